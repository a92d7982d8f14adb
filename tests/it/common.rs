//! Test helpers: a workbench driven key by key, with its effects run against a real store.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use distillery::sample::SampleText;
use distillery::store::{NewSample, Provenance, Store};
use distillery::tui::app::App;
use distillery::tui::effects::{run_one, Effect, Event};
use distillery::tui::keymap::Keymap;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// A fixed clock: 2026-01-01 00:10:00 UTC, ten minutes after `START`.
pub fn clock() -> i64 {
    1_767_226_200_000
}

pub fn key(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub fn code(c: KeyCode) -> Event {
    Event::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

pub fn ctrl(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Samples `Question i` → `Answer i`, plus any extra texts.
pub fn store_with(n: usize, extra: &[SampleText]) -> Store {
    let mut store = Store::open_in_memory().unwrap();
    let mut rows: Vec<NewSample> = (1..=n)
        .map(|i| NewSample {
            text: SampleText::new(format!("Question {i}"), "", format!("Answer {i}")),
            task: Some("demo".into()),
            provenance: Provenance::imported(format!("fixture.jsonl:{i}")),
        })
        .collect();
    rows.extend(extra.iter().enumerate().map(|(i, t)| NewSample {
        text: t.clone(),
        task: None,
        provenance: Provenance::imported(format!("extra.jsonl:{}", i + 1)),
    }));
    store.insert_samples(&rows).unwrap();
    store
}

/// An `App` whose effects run synchronously against `store`.
pub struct Harness {
    pub app: App,
    pub store: Store,
    tx: UnboundedSender<Event>,
    rx: UnboundedReceiver<Event>,
    /// Every effect `update` returned, in order.
    pub effects: Vec<Effect>,
}

impl Harness {
    pub fn new(store: Store) -> Harness {
        let (tx, rx) = unbounded_channel();
        let app = App::new("test".into(), Keymap::default_keys(), clock);
        let mut h = Harness { app, store, tx, rx, effects: Vec::new() };
        let init = h.app.init();
        h.run(init);
        h
    }

    /// Sends an event and runs every effect that follows until the app is idle.
    pub fn send(&mut self, ev: Event) -> &mut Self {
        let fx = self.app.update(ev);
        self.run(fx);
        self
    }

    pub fn keys(&mut self, s: &str) -> &mut Self {
        for c in s.chars() {
            self.send(key(c));
        }
        self
    }

    fn run(&mut self, mut fx: Vec<Effect>) {
        while !fx.is_empty() {
            for e in std::mem::take(&mut fx) {
                self.effects.push(e.clone());
                run_one(&mut self.store, e, &self.tx);
            }
            while let Ok(ev) = self.rx.try_recv() {
                fx.extend(self.app.update(ev));
            }
        }
    }

    pub fn status_of(&self, id: i64) -> distillery::sample::Status {
        self.store.sample(id).unwrap().status
    }
}

/// A curator's decision by "t" (session "t"), for tests that only need one made.
pub fn decision(
    sample_ids: Vec<i64>,
    kind: distillery::store::DecisionKind,
) -> distillery::store::Decision {
    distillery::store::Decision {
        sample_ids,
        kind,
        seconds: None,
        session: "t".into(),
        curator: "t".into(),
        automatic: false,
        unless_decided_after: None,
    }
}
