//! The vocabulary as text, and the mask of the tokens a grammar state allows next. A token is
//! allowed when the state takes every character of it; end-of-turn tokens only when the text is
//! whole. Tokens are grouped by first character, so only the groups whose first character the
//! state takes are tried; inside a plain JSON string every token without `"`, `\` or a control
//! character is taken without trying it.

use super::state::State;
use super::Grammar;
use std::collections::HashMap;

/// Each token's text (None for special tokens), grouped for masking.
pub struct TokenTable {
    pub text: Vec<Option<String>>,
    /// Token ids by their first character.
    by_first: Vec<(char, Vec<u32>)>,
    /// Tokens a plain string takes as they are, with their length in characters.
    plain: Vec<(u32, usize)>,
    /// Tokens with `"`, `\` or a control character (tried one by one inside strings).
    special_in_string: Vec<u32>,
}

impl TokenTable {
    /// From each token's decoded text (`None`: a special token, never written under a grammar).
    /// Pieces of a multi-byte character decode to U+FFFD and are taken only inside strings.
    pub fn new(text: Vec<Option<String>>) -> TokenTable {
        let mut groups: HashMap<char, Vec<u32>> = HashMap::new();
        let (mut plain, mut special_in_string) = (Vec::new(), Vec::new());
        for (id, t) in text.iter().enumerate() {
            let Some(t) = t.as_deref().filter(|t| !t.is_empty()) else { continue };
            let first = t.chars().next().expect("not empty");
            groups.entry(first).or_default().push(id as u32);
            if t.chars().any(|c| c == '"' || c == '\\' || (c as u32) < 0x20) {
                special_in_string.push(id as u32);
            } else {
                plain.push((id as u32, t.chars().count()));
            }
        }
        let mut by_first: Vec<(char, Vec<u32>)> = groups.into_iter().collect();
        by_first.sort_by_key(|(c, _)| *c);
        TokenTable { text, by_first, plain, special_in_string }
    }

    /// A tokenizer's vocabulary: each token decoded alone; added (special) tokens left out.
    pub fn from_tokenizer(t: &tokenizers::Tokenizer) -> TokenTable {
        let special: std::collections::HashSet<u32> =
            t.get_added_tokens_decoder().keys().copied().collect();
        let text = (0..t.get_vocab_size(true) as u32)
            .map(|id| (!special.contains(&id)).then(|| t.decode(&[id], false).ok()).flatten())
            .collect();
        TokenTable::new(text)
    }

    /// The ids `state` allows next (end-of-turn tokens are the caller's: see
    /// [`State::accepting`]).
    pub fn allowed(&self, g: &Grammar, state: &State) -> Vec<u32> {
        let mut out = Vec::new();
        let mut scratch = state.clone();
        let takes = |id: u32, scratch: &mut State| {
            scratch.clone_from(state);
            let t = self.text[id as usize].as_deref().unwrap_or("");
            scratch.feed_str(g, t)
        };
        if let Some(room) = state.in_plain_string(g) {
            out.extend(self.plain.iter().filter(|(_, n)| *n <= room).map(|(id, _)| *id));
            for &id in &self.special_in_string {
                if takes(id, &mut scratch) {
                    out.push(id);
                }
            }
            out.sort_unstable();
            return out;
        }
        for (first, ids) in &self.by_first {
            scratch.clone_from(state);
            if !scratch.feed(g, *first) {
                continue;
            }
            for &id in ids {
                if takes(id, &mut scratch) {
                    out.push(id);
                }
            }
        }
        out.sort_unstable();
        out
    }
}
