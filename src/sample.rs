//! The canonical sample and seed shapes that the store, the formats and the UI share.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who speaks a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// The text of a sample. A single-turn sample is `instruction` (+ `input`) → `output`; a multi-turn
/// conversation keeps its earlier turns in `history`, its last user message in `instruction` and
/// its last assistant message in `output`, so every format can be read and written losslessly.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SampleText {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Message>,
    pub instruction: String,
    #[serde(default)]
    pub input: String,
    pub output: String,
}

impl SampleText {
    /// A single-turn sample.
    pub fn new(
        instruction: impl Into<String>,
        input: impl Into<String>,
        output: impl Into<String>,
    ) -> Self {
        SampleText {
            instruction: instruction.into(),
            input: input.into(),
            output: output.into(),
            ..Self::default()
        }
    }

    /// The user's last message: the instruction, and the input below it when there is one.
    pub fn prompt(&self) -> String {
        if self.input.is_empty() {
            self.instruction.clone()
        } else {
            format!("{}\n\n{}", self.instruction, self.input)
        }
    }

    /// The whole conversation as chat messages (system, history, prompt, answer).
    pub fn to_messages(&self) -> Vec<Message> {
        let mut out = Vec::with_capacity(self.history.len() + 3);
        if let Some(system) = &self.system {
            out.push(Message { role: Role::System, content: system.clone() });
        }
        out.extend(self.history.iter().cloned());
        out.push(Message { role: Role::User, content: self.prompt() });
        out.push(Message { role: Role::Assistant, content: self.output.clone() });
        out
    }

    /// SHA-256 over every field, with lengths as separators: the identity used to skip duplicates.
    pub fn content_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut put = |tag: u8, s: &str| {
            h.update([tag]);
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        if let Some(system) = &self.system {
            put(b's', system);
        }
        for m in &self.history {
            put(
                match m.role {
                    Role::System => b'S',
                    Role::User => b'U',
                    Role::Assistant => b'A',
                },
                &m.content,
            );
        }
        put(b'i', &self.instruction);
        put(b'n', &self.input);
        put(b'o', &self.output);
        h.finalize().into()
    }
}

/// The 64-bit de-duplication key of a content hash (its first 8 bytes).
pub fn content_key(hash: &[u8; 32]) -> i64 {
    i64::from_le_bytes([hash[0], hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7]])
}

/// A seed task: what a teacher recipe starts from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SeedTask {
    pub name: Option<String>,
    pub instruction: String,
    /// Example (input, output) pairs, as in Self-Instruct's seed_tasks.jsonl.
    pub instances: Vec<Instance>,
    pub is_classification: Option<bool>,
}

/// One worked example of a seed task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Instance {
    #[serde(default)]
    pub input: String,
    #[serde(default)]
    pub output: String,
}

impl SeedTask {
    /// Identity of a seed for de-duplication.
    pub fn content_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"seed\0");
        h.update((self.instruction.len() as u64).to_le_bytes());
        h.update(self.instruction.as_bytes());
        for i in &self.instances {
            h.update((i.input.len() as u64).to_le_bytes());
            h.update(i.input.as_bytes());
            h.update((i.output.len() as u64).to_le_bytes());
            h.update(i.output.as_bytes());
        }
        h.finalize().into()
    }
}

/// A held-out evaluation item with a reference answer that can be scored automatically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalItem {
    pub task: Option<String>,
    pub instruction: String,
    #[serde(default)]
    pub input: String,
    pub reference: String,
    /// How to score: `number`, `json_exact` or `exact`.
    pub scorer: String,
}

/// Where a sample's current status comes from: the latest decision in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Accepted,
    Rejected,
    /// Accepted with the curator's edits.
    Edited,
}

impl Status {
    pub const ALL: [Status; 4] =
        [Status::Pending, Status::Accepted, Status::Rejected, Status::Edited];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::Edited => "edited",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Kept for training: accepted as is or after edits.
    pub fn is_kept(self) -> bool {
        matches!(self, Status::Accepted | Status::Edited)
    }
}

/// The one-line summary a queue row shows and the filter searches: the prompt's distinctive part
/// (the input when there is one, since many samples of a task share their instruction), then the
/// output, cut to at most `cap` bytes. Returns the text and the byte length of its title part.
pub fn summary_line(text: &SampleText, cap: usize) -> (String, usize) {
    let title = if text.input.trim().is_empty() { &text.instruction } else { &text.input };
    let mut s = crate::text::clean_line(title.trim());
    let title_len = s.len().min(cap);
    s.push_str(" ⟫ ");
    s.push_str(&crate::text::clean_line(text.output.trim()));
    let cut = crate::text::prefix_bytes(&s, cap).len();
    s.truncate(cut);
    (s, title_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_separates_fields() {
        let a = SampleText::new("ab", "", "c");
        let b = SampleText::new("a", "", "bc");
        let c = SampleText::new("a", "b", "c");
        assert_ne!(a.content_hash(), b.content_hash());
        assert_ne!(b.content_hash(), c.content_hash());
        assert_eq!(a.content_hash(), SampleText::new("ab", "", "c").content_hash());
    }

    #[test]
    fn prompt_joins_input() {
        assert_eq!(SampleText::new("Do", "", "x").prompt(), "Do");
        assert_eq!(SampleText::new("Do", "this", "x").prompt(), "Do\n\nthis");
    }
}
