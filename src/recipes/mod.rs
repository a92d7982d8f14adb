//! Generation recipes: how a teacher turns seeds into candidate samples. Prompt templates are
//! files in `assets/recipes/` (compiled in); a workspace file `recipes/NAME.txt` overrides one.
//!
//! Self-instruct has its own loop ([`run::self_instruct`]); the recipes that turn one source into
//! one candidate (evol-instruct, backtranslation, self-chat, role-play, self-refine) share
//! [`each::run_each`].
//! LLM2LLM starts from the student's wrong answers that `distillery eval` stores.

pub mod dialogue;
pub mod dispatch;
pub mod each;
pub mod evol;
pub mod llm2llm;
pub mod refine;
pub mod rouge;
pub mod run;
pub mod self_instruct;

use sha2::{Digest, Sha256};
use std::path::Path;

/// A recipe and its built-in prompt template.
#[derive(Debug, Clone, Copy)]
pub struct RecipeInfo {
    pub name: &'static str,
    pub about: &'static str,
    pub template: &'static str,
}

/// Every recipe there is.
pub const RECIPES: &[RecipeInfo] = &[
    RecipeInfo {
        name: "self-instruct",
        about: "few-shot from seed tasks; drops near-copies (ROUGE-L > 0.7), blacklisted keywords and bad lengths",
        template: include_str!("../../assets/recipes/self-instruct.txt"),
    },
    RecipeInfo {
        name: "evol-instruct",
        about: "rewrites accepted samples (or seeds) in depth or breadth, answers them, eliminates copies, leaks, refusals and loops",
        template: include_str!("../../assets/recipes/evol-instruct.txt"),
    },
    RecipeInfo {
        name: "backtranslation",
        about: "from plain documents (--docs FILE) to (request, document) samples",
        template: include_str!("../../assets/recipes/backtranslation.txt"),
    },
    RecipeInfo {
        name: "self-chat",
        about: "the teacher writes a multi-turn human/assistant dialogue about each seed's topic (Baize)",
        template: include_str!("../../assets/recipes/self-chat.txt"),
    },
    RecipeInfo {
        name: "role-play",
        about: "two roles take turns on each seed's task, one instructing and one answering (CAMEL)",
        template: include_str!("../../assets/recipes/role-play.txt"),
    },
    RecipeInfo {
        name: "self-refine",
        about: "the critic's rationale goes back to the teacher, which revises a sample scored below 7; the revision is linked to its parent (d shows the diff)",
        template: include_str!("../../assets/recipes/self-refine.txt"),
    },
    RecipeInfo {
        name: "llm2llm",
        about: "the student's wrong answers on its training items (stored by `distillery eval`) become new examples of the same skill (LLM2LLM)",
        template: include_str!("../../assets/recipes/llm2llm.txt"),
    },
];

/// The template in force: the workspace's `recipes/NAME.txt` when present, else the built-in.
/// Returns the text and where it came from.
pub fn template(name: &str, workspace: Option<&Path>) -> Option<(String, String)> {
    let info = RECIPES.iter().find(|r| r.name == name)?;
    if let Some(dir) = workspace {
        let p = dir.join("recipes").join(format!("{name}.txt"));
        if let Ok(t) = std::fs::read_to_string(&p) {
            return Some((t, p.display().to_string()));
        }
    }
    Some((info.template.to_owned(), format!("built-in (assets/recipes/{name}.txt)")))
}

/// `template` with each `(placeholder, value)` filled in one pass: text inside a value is never
/// filled again (a sample that quotes `{output}` stays as written).
pub fn fill_once(template: &str, fill: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 512);
    let mut rest = template;
    while let Some((i, key, value)) = fill
        .iter()
        .filter_map(|(k, v)| rest.find(k).map(|i| (i, *k, *v)))
        .min_by_key(|(i, _, _)| *i)
    {
        out.push_str(&rest[..i]);
        out.push_str(value);
        rest = &rest[i + key.len()..];
    }
    out.push_str(rest);
    out
}

/// A short hash identifying a template's exact text (stored with every candidate).
pub fn template_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}
