//! The terminal UI: state and pure update in `app`, IO in `effects`, drawing in `panes`.

pub mod action;
pub mod app;
pub mod effects;
mod external;
pub mod filter;
pub mod jobs;
pub mod judging;
pub mod keymap;
mod keys;
pub mod layout;
pub mod panes;
pub mod queue;
mod render;
pub mod student;
pub mod theme;
pub mod update;
pub mod view;

use crate::sample::SampleText;
use crate::workspace::Workspace;
use app::App;
use crossterm::event::{Event as TermEvent, KeyEventKind};
use effects::{Effect, Event, StoreWorker};
use futures_util::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::Terminal;
use std::future::Future;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// Opens the workbench on a workspace in the real terminal, starting `job` if given.
pub fn run_workspace(
    ws: &Workspace,
    job: Option<crate::work::jobs::JobSpec>,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the workbench needs a terminal (stdin and stdout are not one here); run a command instead, such as `distillery stats` (`distillery --help` lists them)"
        );
    }
    let mut user_keymaps = Vec::new();
    if let Some(p) = ws.config.tui.keymap.as_ref() {
        user_keymaps.push(if p.is_absolute() { p.clone() } else { ws.dir.join(p) });
    }
    if let Some(d) = directories::ProjectDirs::from("", "", "distillery") {
        user_keymaps.push(d.config_dir().join("keymap.toml"));
    }
    let refs: Vec<&std::path::Path> = user_keymaps.iter().map(|p| p.as_path()).collect();
    let keymap = keymap::Keymap::load(&refs)?;
    let store = ws.store()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut app = App::new(ws.display_name(), keymap, crate::store::now_ms);
    app.endpoints = ws.config.endpoints.keys().cloned().collect();
    app.default_endpoint = ws.config.teacher.endpoint.clone();
    app.initial_job = job;
    app.theme = theme::Theme::from_env();
    rt.block_on(async move {
        let (tx, rx) = unbounded_channel();
        let mut worker = StoreWorker::spawn(store, tx);
        worker.enable_jobs(ws.clone());
        worker.enable_student(ws.clone());
        let mut terminal = ratatui::init();
        let shutdown = shutdown_signal();
        let res = run(
            &mut terminal,
            app,
            crossterm::event::EventStream::new,
            &worker,
            rx,
            shutdown,
            &mut |term, id, text| {
                ratatui::restore();
                let result = external::edit(text);
                *term = ratatui::init();
                let _ = term.clear();
                Event::ExternalEdit { id, result }
            },
        )
        .await;
        ratatui::restore();
        // Every decision sent before quitting is committed before the process ends.
        worker.finish();
        res.map(|_| ())
    })
}

/// Resolves on SIGTERM or SIGHUP (a closed terminal), so the terminal is restored and queued
/// writes finish.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::hangup())) {
        (Ok(mut term), Ok(mut hup)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = hup.recv() => {},
            }
        }
        _ => std::future::pending().await,
    }
}

/// The suspend-and-edit hook: gets the terminal, the sample id and its text; returns the event.
pub type ExternalEditor<'a, B> = dyn FnMut(&mut Terminal<B>, i64, &SampleText) -> Event + 'a;

/// The event loop, generic over the backend and the input stream so tests can drive it.
/// Returns the final state.
pub async fn run<B, S, F>(
    terminal: &mut Terminal<B>,
    mut app: App,
    mut make_input: F,
    worker: &StoreWorker,
    mut results: UnboundedReceiver<Event>,
    shutdown: impl Future<Output = ()>,
    editor: &mut ExternalEditor<'_, B>,
) -> anyhow::Result<App>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Stream<Item = std::io::Result<TermEvent>> + Unpin,
    F: FnMut() -> S,
{
    let mut input = make_input();
    let mut pending: Vec<Effect> = app.init();
    // The size to lay out for until the terminal reports a resize.
    let size = terminal.size()?;
    pending.extend(app.update(Event::Resize(size.width, size.height)));
    tokio::pin!(shutdown);
    // Once a second the workbench looks for other processes' decisions.
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        // Carry out effects; the external editor needs the terminal and a fresh input stream.
        while !pending.is_empty() {
            for effect in std::mem::take(&mut pending) {
                match effect {
                    Effect::EditExternal { id, text } => {
                        drop(std::mem::replace(&mut input, make_input()));
                        let ev = editor(terminal, id, &text);
                        input = make_input();
                        pending.extend(app.update(ev));
                    }
                    Effect::Quit => {}
                    other => worker.send(other),
                }
            }
        }
        if app.quit {
            return Ok(app);
        }
        terminal.draw(|f| app.render(f))?;
        let event = tokio::select! {
            biased;
            Some(ev) = results.recv() => ev,
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => Event::Key(k),
                Some(Ok(TermEvent::Resize(w, h))) => Event::Resize(w, h),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(app),
            },
            _ = tick.tick() => Event::Tick,
            _ = &mut shutdown => return Ok(app),
        };
        pending.extend(app.update(event));
        // Drain what else has arrived before drawing again.
        while let Ok(ev) = results.try_recv() {
            pending.extend(app.update(ev));
        }
    }
}
