//! Generation recipes: how a teacher turns seeds into candidate samples. Prompt templates are
//! files in `assets/recipes/` (compiled in); a workspace file `recipes/NAME.txt` overrides one.
//!
//! Status: self-instruct is here. Evol-instruct, backtranslation, self-chat/role-play and LLM2LLM
//! are still to come (issue 3 continues).

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
pub const RECIPES: &[RecipeInfo] = &[RecipeInfo {
    name: "self-instruct",
    about: "few-shot from seed tasks; drops near-copies (ROUGE-L > 0.7), blacklisted keywords and bad lengths",
    template: include_str!("../../assets/recipes/self-instruct.txt"),
}];

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

/// A short hash identifying a template's exact text (stored with every candidate).
pub fn template_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}
