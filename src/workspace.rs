//! A workspace: a folder with `distillery.toml` and `distillery.db`.

use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The config file's name inside a workspace.
pub const CONFIG_FILE: &str = "distillery.toml";
/// The database file's name inside a workspace.
pub const DB_FILE: &str = "distillery.db";
/// The log file's name inside a workspace.
pub const LOG_FILE: &str = "distillery.log";

/// `distillery.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A name shown in the status line.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tui: TuiConfig,
    /// Which model generates: the local engine (default) or a named endpoint.
    #[serde(default)]
    pub teacher: TeacherConfig,
    /// OpenAI-compatible endpoints by name: `[endpoints.vllm]`.
    #[serde(default)]
    pub endpoints: std::collections::BTreeMap<String, crate::llm::openai::EndpointConfig>,
    #[serde(default)]
    pub judge: JudgeConfig,
    /// Per-task settings: `[tasks.NAME]`.
    #[serde(default)]
    pub tasks: std::collections::BTreeMap<String, TaskConfig>,
}

/// One `[tasks.NAME]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    /// The JSON Schema the task's answers follow: the teacher's answers are constrained to it
    /// (the local engine's grammar, an endpoint's structured output).
    #[serde(default)]
    pub output_schema: Option<serde_json::Value>,
}

impl Config {
    /// The output schemas by task.
    pub fn output_schemas(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        self.tasks
            .iter()
            .filter_map(|(t, c)| c.output_schema.clone().map(|s| (t.clone(), s)))
            .collect()
    }
}

/// The `[judge]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JudgeConfig {
    /// The TUI judges new candidates in the background.
    pub auto: bool,
    /// `local`, or an `[endpoints.NAME]` (default: the teacher's).
    pub critic: Option<String>,
    /// Answers sampled per vote (0: no vote).
    pub votes: usize,
    /// When a neighbour counts as a near-duplicate.
    pub near_duplicate: crate::judge::dedup::Thresholds,
    /// Off unless present.
    pub auto_accept: Option<crate::judge::AutoAccept>,
    /// Verifiers per task or recipe (`[[judge.verify]]`), besides the automatic checks.
    pub verify: Vec<crate::judge::verify::VerifyRule>,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            auto: true,
            critic: None,
            votes: 5,
            near_duplicate: Default::default(),
            auto_accept: None,
            verify: Vec::new(),
        }
    }
}

/// The `[teacher]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeacherConfig {
    /// A named endpoint; when unset, the local engine runs `model`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// A llama-family GGUF for the local engine (default: SmolLM2-135M-Instruct from the cache).
    #[serde(default)]
    pub model: Option<PathBuf>,
}

/// The `[tui]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuiConfig {
    /// A keymap file merged over the defaults (besides `$XDG_CONFIG_HOME/distillery/keymap.toml`).
    #[serde(default)]
    pub keymap: Option<PathBuf>,
}

/// Problems with a workspace folder.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{0} is not a Distillery workspace (no {CONFIG_FILE}); create one with `distillery init {0}`")]
    Missing(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: invalid config: {message}")]
    BadConfig { path: PathBuf, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An opened workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub dir: PathBuf,
    pub config: Config,
}

const DEFAULT_CONFIG: &str = r#"# Distillery workspace settings.
# name = "my-dataset"

[tui]
# keymap = "keymap.toml"   # merged over the default keys

[teacher]
# The local engine runs this GGUF (default: SmolLM2-135M-Instruct from the model cache).
# model = "/path/to/model.gguf"
# To generate with a server instead, name one of the endpoints below (one line):
# endpoint = "local-vllm"

# [endpoints.local-vllm]
# base_url = "http://localhost:8000/v1"    # vLLM, SGLang, llama.cpp server (:8080/v1), Ollama (:11434/v1)
# model = "Qwen/Qwen2.5-7B-Instruct"
# api_key_env = "OPENAI_API_KEY"           # the variable's name; the key is never stored
# concurrency = 4
# connect_timeout_s = 10
# idle_timeout_s = 120                     # longest wait for the next streamed chunk
# max_retries = 4                          # 429 / 5xx / stalls / cut streams, honouring Retry-After
# token_budget = 200000                    # per run; a hard stop
# logprobs = true                          # ask for token log-probabilities (asked again without if refused)

[judge]
# auto = true          # the workbench judges new candidates in the background
# critic = "local"     # or an endpoint's name (default: the teacher's)
# votes = 5            # answers per self-consistency vote (0: none)
# near_duplicate = { rouge = 0.7, cosine = 0.9 }
# An automatic accept, off unless this table is here; its decisions are marked and undoable:
# [judge.auto_accept]
# min_score = 8.0      # the critic's score, 1-10
# min_agreement = 1.0  # share of the vote giving the sample's own answer
# Verifiers a task or recipe names (besides the automatic arithmetic and JSON checks); each
# result is stored, shown in the detail pane, and a failure puts the sample early in triage:
# [[judge.verify]]
# task = "extract-json"          # optional: only this task's samples
# recipe = "self-instruct"       # optional: only this recipe's samples
# kind = "json"                  # arithmetic | json (keys = [...]) | regex (pattern = "...") | exact (reference = "...")
# keys = ["name", "date"]
"#;

impl Workspace {
    /// The workspace's documents folder, backtranslation's default source.
    pub fn documents_dir(&self) -> PathBuf {
        self.dir.join("documents")
    }

    /// The local model that generates, judges and is trained by default: `[teacher] model`, else
    /// SmolLM2-135M-Instruct in the model cache.
    pub fn teacher_model(&self) -> PathBuf {
        self.config.teacher.model.clone().unwrap_or_else(crate::llm::fetch::default_model)
    }

    /// Creates the folder, config and database (keeping an existing config).
    pub fn init(dir: &Path) -> Result<(Workspace, bool), WorkspaceError> {
        let io = |source| WorkspaceError::Io { path: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let cfg = dir.join(CONFIG_FILE);
        let created = !cfg.exists();
        if created {
            crate::fsio::write_atomic(&cfg, |w| w.write_all(DEFAULT_CONFIG.as_bytes()))
                .map_err(|source| WorkspaceError::Io { path: cfg.clone(), source })?;
        }
        let ws = Workspace::open(dir)?;
        ws.store()?;
        Ok((ws, created))
    }

    /// Opens an existing workspace and reads its config.
    pub fn open(dir: &Path) -> Result<Workspace, WorkspaceError> {
        let cfg = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&cfg) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(WorkspaceError::Missing(dir.to_owned()))
            }
            Err(source) => return Err(WorkspaceError::Io { path: cfg, source }),
        };
        let config: Config = toml::from_str(&text)
            .map_err(|e| WorkspaceError::BadConfig { path: cfg.clone(), message: e.to_string() })?;
        Ok(Workspace { dir: dir.to_owned(), config })
    }

    /// Opens the workspace's store.
    pub fn store(&self) -> Result<Store, StoreError> {
        let mut s = Store::open(&self.db_path())?;
        s.near_duplicate = self.config.judge.near_duplicate;
        s.verifiers = self.config.judge.verify.clone();
        Ok(s)
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.join(DB_FILE)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// The name shown in the UI: the configured name or the folder's name.
    pub fn display_name(&self) -> String {
        self.config.name.clone().unwrap_or_else(|| {
            self.dir
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| self.dir.display().to_string())
        })
    }
}

/// The curator named by `--curator` (set once at start).
static CURATOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Checks a curator's name: 1–64 characters, no control or bidi characters (it is printed).
pub fn check_curator(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(format!(
            "curator name {:?}: 1 to 64 characters",
            crate::text::clean_line(name)
        ));
    }
    if crate::text::clean_line(name) != name {
        return Err(format!(
            "curator name {:?}: control characters are not allowed",
            crate::text::clean_line(name)
        ));
    }
    Ok(name.to_owned())
}

/// Sets the curator for this process (`--curator`, `DISTILLERY_CURATOR`).
pub fn set_curator(name: &str) -> Result<(), String> {
    let name = check_curator(name)?;
    let _ = CURATOR.set(name);
    Ok(())
}

/// Who decides in this process: `--curator`, else `DISTILLERY_CURATOR`, else the user name
/// (`USER`, `USERNAME`), else "curator".
pub fn default_curator() -> String {
    if let Some(c) = CURATOR.get() {
        return c.clone();
    }
    ["DISTILLERY_CURATOR", "USER", "USERNAME", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find_map(|v| check_curator(&v).ok())
        .unwrap_or_else(|| "curator".into())
}
