//! The student pane on screen: training, cancelling, evaluating, the loss chart and the rounds.

use super::screens::draw;
use crate::common::*;
use crossterm::event::KeyCode;

#[test]
fn the_student_pane_trains_cancels_evaluates_and_charts_the_loss_and_the_rounds() {
    use distillery::store::{Metric, TrainingRun};
    use distillery::train::run::StepReport;
    use distillery::tui::effects::{Effect, Event};
    use distillery::work::student::{RunProgress, StudentCmd, StudentView, TrainSpec};
    let mut h = Harness::new(store_with(6, &[]));
    h.send(key('T'));
    insta::assert_snapshot!("student_pane_before_any_run", draw(&mut h, 100, 30));
    // The watcher offers two bases: the default first.
    let offer = StudentView {
        bases: vec![
            "/models/SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            "/models/other-llama.gguf".into(),
        ],
        tasks: vec!["arithmetic".into(), "extraction".into()],
        ..StudentView::default()
    };
    h.send(Event::Student(Box::new(offer)));
    // The dialog opens on rank: up one; epochs down one; adapt all seven; the second task; the
    // other base; then start.
    h.send(key('t')).send(code(KeyCode::Right)).send(code(KeyCode::Down)).send(code(KeyCode::Left));
    h.send(code(KeyCode::Up))
        .send(code(KeyCode::Up))
        .send(code(KeyCode::Right))
        .send(code(KeyCode::Right))
        .send(code(KeyCode::Right));
    h.send(code(KeyCode::Up)).send(code(KeyCode::Right)).send(code(KeyCode::Right));
    h.send(code(KeyCode::Up)).send(code(KeyCode::Right));
    insta::assert_snapshot!("training_dialog", draw(&mut h, 100, 30));
    h.send(code(KeyCode::Enter));
    let want = TrainSpec {
        base: Some("/models/other-llama.gguf".into()),
        task: Some("extraction".into()),
        targets: "q,k,v,o,gate,up,down".into(),
        rank: 16,
        epochs: 1,
        lr: 2e-4,
        seed_share: 0.2,
    };
    assert!(h.effects.contains(&Effect::Student(StudentCmd::Train(want))), "{:?}", h.effects);
    h.keys("ce");
    assert!(
        h.effects.contains(&Effect::Student(StudentCmd::Cancel))
            && h.effects.contains(&Effect::Student(StudentCmd::Evaluate))
    );
    // What the watcher reports: a run halfway, and base vs round 1 on the held-out items.
    let run = |id, round| TrainingRun {
        id,
        round,
        base_model: "base.gguf".into(),
        params: "{}".into(),
        status: distillery::store::RunStatus::Running,
        pid: Some(1),
        adapter_path: None,
        started_at: 0,
        finished_at: None,
    };
    let steps = (1..=12)
        .map(|s| StepReport {
            step: s,
            total: 24,
            loss: 2.8 - 0.05 * s as f64,
            lr: 2e-4,
            tokens: 400,
            tokens_per_s: 61.0,
            seconds_per_step: 6.5,
            eta_s: 6.5 * (24 - s) as f64,
        })
        .collect();
    let m = |run_id, metric: &str, value| Metric {
        run_id,
        task: None,
        metric: metric.into(),
        value,
        n: 60,
    };
    let metrics = vec![
        m(None, "exact_match", 0.10),
        m(None, "loss", 2.91),
        m(Some(1), "exact_match", 0.18),
        m(Some(1), "loss", 2.42),
        m(Some(1), "guard.diversity", 0.61),
    ];
    let view = StudentView {
        bases: vec!["/models/SmolLM2-135M-Instruct.Q4_1.gguf".into()],
        tasks: Vec::new(),
        runs: vec![run(1, 1), run(2, 2)],
        rounds: vec![distillery::store::Round {
            id: 1,
            policy: "verified".into(),
            recipe: "rejection-sampling".into(),
            budget: 32,
            step: distillery::store::RoundStep::Done,
            first_sample: 40,
            last_sample: Some(290),
            run_id: Some(1),
            results: serde_json::json!({
                "decided": {"accepted": 12, "edited": 0, "rejected": 238},
                "figures": {"exact_match": 0.18}
            }),
        }],
        current: Some(RunProgress { run: run(2, 2), alive: true, steps }),
        metrics,
        warnings: vec!["round 2: embedding diversity fell 12% from round 1 (0.610 → 0.537): the data is narrowing".into()],
        evaluating: false,
        eval_progress: None,
        note: Some(("training started: extraction · LoRA r=16 on q,k,v,o,gate,up,down · 1 epochs · lr 2e-4 · seed share 20%".into(), false)),
    };
    h.send(Event::Student(Box::new(view)));
    let screen = draw(&mut h, 100, 30);
    assert!(
        screen.contains("step 12/24")
            && screen.contains("round 1")
            && screen.contains("18%")
            && screen.contains("diversity fell")
            && screen.contains("#1 verified: +12 ✎0 −238 → 18%"),
        "{screen}"
    );
    insta::assert_snapshot!("student_pane_training", screen);
    h.send(key('q'));
    assert!(draw(&mut h, 100, 30).contains("training r2 12/24"), "the status line follows the run");
}
