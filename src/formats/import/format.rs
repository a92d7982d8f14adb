//! The input formats: their names, the keys each reads, and which a record fits.

use serde_json::{Map, Value};

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Auto,
    /// `instruction`, `input`, `output` (and LLaMA-Factory's `system`, `history`)
    Alpaca,
    /// `conversations: [{from, value}]`
    Sharegpt,
    /// `messages: [{role, content}]`
    Openai,
    /// TRL's `prompt`/`completion`, as strings or as message lists
    PromptCompletion,
    /// TRL's preference pairs: `prompt`, `chosen`, `rejected` (strings, messages, implicit prompt)
    Preference,
    /// OpenAI preference fine-tuning: `input`, `preferred_output`, `non_preferred_output`
    OpenaiPreference,
    /// LLaMA-Factory's Alpaca pairs: `instruction`, `input`, `chosen`, `rejected`
    AlpacaPreference,
    /// LLaMA-Factory's ShareGPT pairs: `conversations`, `chosen`, `rejected`
    SharegptPreference,
    /// `instruction` with optional `instances: [{input, output}]` (Self-Instruct's seed_tasks.jsonl)
    Seeds,
    /// `instruction`, `input`, `reference`, `scorer`: a held-out evaluation set
    Eval,
}

impl Format {
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Alpaca => "alpaca",
            Format::Sharegpt => "sharegpt",
            Format::Openai => "openai",
            Format::PromptCompletion => "prompt-completion",
            Format::Preference => "preference",
            Format::OpenaiPreference => "openai-preference",
            Format::AlpacaPreference => "alpaca-preference",
            Format::SharegptPreference => "sharegpt-preference",
            Format::Seeds => "seeds",
            Format::Eval => "eval",
        }
    }

    /// The record keys this format reads; a sample's other keys are kept as its `extra`.
    pub(super) fn keys(self) -> &'static [&'static str] {
        match self {
            Format::Alpaca => &["instruction", "input", "output", "system", "history", "task"],
            Format::Sharegpt => &["conversations", "system", "task"],
            Format::Openai => &["messages", "task"],
            Format::PromptCompletion => &["prompt", "completion", "task"],
            Format::Preference => &["prompt", "chosen", "rejected", "task"],
            Format::OpenaiPreference => {
                &["input", "preferred_output", "non_preferred_output", "task"]
            }
            Format::AlpacaPreference => {
                &["instruction", "input", "chosen", "rejected", "system", "history", "task"]
            }
            Format::SharegptPreference => {
                &["conversations", "chosen", "rejected", "system", "task"]
            }
            Format::Seeds => &[
                "instruction",
                "instances",
                "input",
                "output",
                "is_classification",
                "name",
                "id",
                "question",
                "answer",
                "task",
            ],
            Format::Eval => &["instruction", "input", "reference", "output", "scorer", "task"],
            Format::Auto => &[],
        }
    }

    /// Whether a record has the keys this format needs.
    pub(super) fn fits(self, o: &Map<String, Value>) -> bool {
        let has = |k| o.contains_key(k);
        let pair = has("chosen") && has("rejected");
        match self {
            Format::Alpaca => has("instruction") && has("output"),
            Format::Sharegpt => has("conversations") && !pair,
            Format::Preference => pair && !has("instruction") && !has("conversations"),
            Format::OpenaiPreference => {
                has("input") && has("preferred_output") && has("non_preferred_output")
            }
            Format::AlpacaPreference => pair && has("instruction"),
            Format::SharegptPreference => pair && has("conversations"),
            Format::Openai => has("messages"),
            Format::PromptCompletion => has("prompt") && has("completion"),
            Format::Seeds => {
                has("instances") || has("instruction") || (has("question") && has("answer"))
            }
            Format::Eval => has("reference"),
            Format::Auto => true,
        }
    }
}

/// The formats a record looks like; seeds only when nothing more specific fits.
pub(super) fn candidates(o: &Map<String, Value>) -> Vec<Format> {
    let specific = [
        Format::Sharegpt,
        Format::Openai,
        Format::Eval,
        Format::Alpaca,
        Format::PromptCompletion,
        Format::Preference,
        Format::OpenaiPreference,
        Format::AlpacaPreference,
        Format::SharegptPreference,
    ];
    let mut out: Vec<Format> = specific.into_iter().filter(|f| f.fits(o)).collect();
    if o.contains_key("instances") && !out.contains(&Format::Eval) {
        out.retain(|f| *f != Format::Alpaca);
        out.push(Format::Seeds);
    }
    if out.is_empty() && Format::Seeds.fits(o) {
        out.push(Format::Seeds);
    }
    out
}

pub(super) fn names(formats: &[Format]) -> String {
    formats.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
}
