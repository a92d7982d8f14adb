//! Generation recipes: how a teacher turns seeds into candidate samples. Prompt templates are
//! files in `assets/recipes/` (compiled in); a workspace file `recipes/NAME.txt` overrides one.
//!
//! Self-instruct has its own loop ([`run::self_instruct`]); the recipes that turn one source into
//! one candidate (evol-instruct, backtranslation, self-chat, role-play, self-refine) share
//! [`each::run_each`].
//! LLM2LLM starts from the student's wrong answers that `distillery eval` stores, and from the
//! hard cases rejection sampling ([`rejection`]) records.

pub mod dialogue;
pub mod dispatch;
pub mod each;
pub mod evol;
pub mod llm2llm;
pub mod refine;
pub mod rejection;
pub mod run;
pub mod self_instruct;

pub use crate::text::template_hash;

use std::path::Path;

/// A generation recipe. The one list of recipes: the CLI, the dialog, the sources and the
/// runner all go through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recipe {
    SelfInstruct,
    EvolInstruct,
    Backtranslation,
    SelfChat,
    RolePlay,
    SelfRefine,
    Llm2llm,
    RejectionSampling,
}

impl Recipe {
    /// Every recipe, in the order the CLI and the dialog list them.
    pub const ALL: [Recipe; 8] = [
        Recipe::SelfInstruct,
        Recipe::EvolInstruct,
        Recipe::Backtranslation,
        Recipe::SelfChat,
        Recipe::RolePlay,
        Recipe::SelfRefine,
        Recipe::Llm2llm,
        Recipe::RejectionSampling,
    ];

    /// The name on the command line, in templates' file names and in provenance.
    pub fn name(self) -> &'static str {
        match self {
            Recipe::SelfInstruct => "self-instruct",
            Recipe::EvolInstruct => "evol-instruct",
            Recipe::Backtranslation => "backtranslation",
            Recipe::SelfChat => "self-chat",
            Recipe::RolePlay => "role-play",
            Recipe::SelfRefine => "self-refine",
            Recipe::Llm2llm => "llm2llm",
            Recipe::RejectionSampling => "rejection-sampling",
        }
    }

    /// One line on what it does.
    pub fn about(self) -> &'static str {
        match self {
            Recipe::SelfInstruct => "few-shot from seed tasks; drops near-copies (ROUGE-L > 0.7), blacklisted keywords and bad lengths",
            Recipe::EvolInstruct => "rewrites accepted samples (or seeds) in depth or breadth, answers them, eliminates copies, leaks, refusals and loops",
            Recipe::Backtranslation => "from plain documents (--docs FILE) to (request, document) samples",
            Recipe::SelfChat => "the teacher writes a multi-turn human/assistant dialogue about each seed's topic (Baize)",
            Recipe::RolePlay => "two roles take turns on each seed's task, one instructing and one answering (CAMEL)",
            Recipe::SelfRefine => "the critic's rationale goes back to the teacher, which revises a sample scored below 7; the revision is linked to its parent (d shows the diff)",
            Recipe::Llm2llm => "the student's wrong answers on its training items (stored by `distillery eval`) and rejection sampling's hard cases become new examples of the same skill (LLM2LLM)",
            Recipe::RejectionSampling => "k answers to each seed question with a reference; the distinct ones its scorer and the task's verifiers pass are kept, the questions all fail are stored as hard cases (STaR, RFT)",
        }
    }

    /// The built-in prompt template (`assets/recipes/NAME.txt`).
    pub fn builtin_template(self) -> &'static str {
        match self {
            Recipe::SelfInstruct => include_str!("../../assets/recipes/self-instruct.txt"),
            Recipe::EvolInstruct => include_str!("../../assets/recipes/evol-instruct.txt"),
            Recipe::Backtranslation => include_str!("../../assets/recipes/backtranslation.txt"),
            Recipe::SelfChat => include_str!("../../assets/recipes/self-chat.txt"),
            Recipe::RolePlay => include_str!("../../assets/recipes/role-play.txt"),
            Recipe::SelfRefine => include_str!("../../assets/recipes/self-refine.txt"),
            Recipe::Llm2llm => include_str!("../../assets/recipes/llm2llm.txt"),
            Recipe::RejectionSampling => {
                include_str!("../../assets/recipes/rejection-sampling.txt")
            }
        }
    }

    /// The recipe of a name, if there is one.
    pub fn from_name(name: &str) -> Option<Recipe> {
        Recipe::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether it starts from the stored seeds through its own loop (no per-source list).
    pub fn own_loop(self) -> bool {
        matches!(self, Recipe::SelfInstruct | Recipe::RejectionSampling)
    }

    /// Whether its candidates derive from a sample that already exists (near-duplicates of the
    /// parent are expected, not a reason to drop).
    pub fn derives(self) -> bool {
        matches!(self, Recipe::SelfRefine | Recipe::Llm2llm)
    }
}

impl std::fmt::Display for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Recipe {
    type Err = String;
    fn from_str(s: &str) -> Result<Recipe, String> {
        Recipe::from_name(s).ok_or_else(|| {
            let all: Vec<&str> = Recipe::ALL.iter().map(|r| r.name()).collect();
            format!("unknown recipe {s:?} (recipes: {})", all.join(", "))
        })
    }
}

/// The template in force: the workspace's `recipes/NAME.txt` when present, else the built-in.
/// Returns the text and where it came from.
pub fn template(recipe: Recipe, workspace: Option<&Path>) -> (String, String) {
    let name = recipe.name();
    if let Some(dir) = workspace {
        let p = dir.join("recipes").join(format!("{name}.txt"));
        if let Ok(t) = std::fs::read_to_string(&p) {
            return (t, p.display().to_string());
        }
    }
    (recipe.builtin_template().to_owned(), format!("built-in (assets/recipes/{name}.txt)"))
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

/// The provenance `params` JSON of a generated sample: the sampling settings that made it, then
/// the recipe's own fields (`extra`, an object; a key there wins).
pub fn params_json(params: &crate::llm::GenParams, extra: serde_json::Value) -> String {
    let mut p = serde_json::json!({
        "temperature": params.temperature, "top_p": params.top_p, "top_k": params.top_k,
        "repetition_penalty": params.repetition_penalty, "max_tokens": params.max_tokens,
        "seed": params.seed,
    });
    if let (Some(p), serde_json::Value::Object(e)) = (p.as_object_mut(), extra) {
        p.extend(e);
    }
    p.to_string()
}
