//! Opening the models a job runs on: the teacher the workspace asks for (a named endpoint or the
//! local engine on a GGUF) and the critic `[judge] critic` names.

use crate::llm::openai::OpenAiClient;
use crate::llm::{Generator, LocalModel};
use crate::workspace::Workspace;
use std::path::Path;

/// The teacher the workspace asks for: a named endpoint, or the local engine on a GGUF.
/// `say` hears what is being opened.
pub fn open_teacher(
    ws: &Workspace,
    endpoint: Option<&str>,
    model: Option<&Path>,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<Box<dyn Generator + Send>> {
    let endpoint = endpoint.map(str::to_owned).or_else(|| {
        if model.is_some() {
            None
        } else {
            ws.config.teacher.endpoint.clone()
        }
    });
    if let Some(name) = endpoint {
        let cfg = ws.config.endpoints.get(&name).cloned().ok_or_else(|| {
            let known: Vec<&str> = ws.config.endpoints.keys().map(String::as_str).collect();
            anyhow::anyhow!(
                "no endpoint {name:?} in {}: add [endpoints.{name}] (known: {})",
                ws.dir.join(crate::workspace::CONFIG_FILE).display(),
                if known.is_empty() { "none".into() } else { known.join(", ") }
            )
        })?;
        say(format!("teacher: endpoint {name} ({} at {})", cfg.model, cfg.base_url));
        return Ok(Box::new(OpenAiClient::new(&name, cfg)?));
    }
    let path = model.map(Path::to_owned).unwrap_or_else(|| ws.teacher_model());
    if !path.exists() {
        anyhow::bail!(
            "{}: no such model file; run `distillery models fetch` or pass --model FILE.gguf",
            path.display()
        );
    }
    say(format!("teacher: loading {} …", path.display()));
    let m = LocalModel::load(&path)?;
    say(format!("teacher: local engine on {}", m.info().describe()));
    Ok(Box::new(m))
}

/// The critic `[judge] critic` names; None when it is the teacher itself (`reuse` is loaded).
pub fn open_critic(
    ws: &Workspace,
    teacher_endpoint: Option<&str>,
) -> anyhow::Result<Option<Box<dyn Generator + Send>>> {
    let say = &mut |m: String| tracing::info!("{}", m.replacen("teacher", "critic", 1));
    match ws.config.judge.critic.as_deref() {
        None => Ok(None),
        Some("local") if teacher_endpoint.is_none() => Ok(None),
        Some("local") => {
            let model = ws.teacher_model();
            Ok(Some(open_teacher(ws, None, Some(&model), say)?))
        }
        Some(name) if Some(name) == teacher_endpoint => Ok(None),
        Some(name) => Ok(Some(open_teacher(ws, Some(name), None, say)?)),
    }
}

/// The critic, or the teacher when the critic is the teacher (`[judge] critic` unset).
pub fn open_critic_or_teacher(
    ws: &Workspace,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<Box<dyn Generator + Send>> {
    match open_critic(ws, None)? {
        Some(c) => Ok(c),
        None => open_teacher(ws, ws.config.teacher.endpoint.as_deref(), None, &mut |m| {
            say(m.replacen("teacher", "critic", 1))
        }),
    }
}

/// A model as a job's status line names it: the model, and the local engine's kernels.
pub fn model_line(t: &dyn Generator) -> String {
    match t.engine() {
        Some(e) => format!("{} ({e})", t.name()),
        None => t.name(),
    }
}
