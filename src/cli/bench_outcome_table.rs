//! The outcome benchmark's table: every arm's held-out figures, the deltas, the collapse guard
//! per round, the triage shares and the targets.

use crate::work::round::RoundReport;

/// How much of the way from `none` to `full` an arm got (None when full is no better).
pub fn share_of_gain(arm: f64, none: f64, full: f64) -> Option<f64> {
    (full > none).then(|| (arm - none) / (full - none))
}

/// The largest drop from one round to a later one (0 when the figures never fall).
pub fn max_drop(rounds: &[f64]) -> f64 {
    let mut best = f64::NEG_INFINITY;
    let mut drop: f64 = 0.0;
    for &r in rounds {
        best = best.max(r);
        drop = drop.max(best - r);
    }
    drop
}

/// One arm's result.
pub(super) struct Arm {
    pub name: String,
    pub report: Option<RoundReport>,
    pub figures: Vec<(Option<String>, String, f64)>,
    pub seconds: f64,
}

impl Arm {
    pub fn get(&self, task: Option<&str>, metric: &str) -> Option<f64> {
        self.figures.iter().find(|(t, m, _)| t.as_deref() == task && m == metric).map(|f| f.2)
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn print_table(
    base: &Arm,
    arms: &[&Arm],
    round_arms: &[Arm],
    rounds: &[f64],
    triage: &[(f64, Arm)],
    gen_s: f64,
    minutes: f64,
    engine: &str,
) {
    let pct = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.1}%", v * 100.0));
    let tasks: Vec<String> = {
        let mut t: Vec<String> = base.figures.iter().filter_map(|(t, _, _)| t.clone()).collect();
        t.sort();
        t.dedup();
        t
    };
    println!("bench outcome: SmolLM2-135M-Instruct as teacher and student ({engine}); generation {gen_s:.0} s");
    print!("{:<22} {:>9}", "arm", "overall");
    for t in &tasks {
        print!(" {:>11}", t);
    }
    println!(
        " {:>9} {:>7} {:>9} {:>9} {:>8} {:>7}",
        "verifier", "loss", "Δ base", "Δ accept", "trained", "time"
    );
    let em = |a: &Arm| a.get(None, "exact_match");
    let acc = em(arms[0]);
    let row = |a: &Arm| {
        print!("{:<22} {:>9}", a.name, pct(em(a)));
        for t in &tasks {
            print!(" {:>11}", pct(a.get(Some(t), "exact_match")));
        }
        let d = |o: Option<f64>| match (em(a), o) {
            (Some(x), Some(y)) => format!("{:+.1}", (x - y) * 100.0),
            _ => "—".into(),
        };
        let trained = a.report.as_ref().map_or("—".into(), |r| {
            r.round.results["trained"].as_u64().map_or("0".into(), |n| n.to_string())
        });
        println!(
            " {:>9} {:>7} {:>9} {:>9} {:>8} {:>6.0}s",
            pct(a.get(None, "verifier_pass")),
            a.get(None, "loss").map_or("—".into(), |l| format!("{l:.3}")),
            d(em(base)),
            d(acc),
            trained,
            a.seconds
        );
    };
    row(base);
    for a in arms.iter().copied().chain(round_arms.iter()) {
        row(a);
    }
    for (_, a) in triage {
        row(a);
    }
    let guard = |a: &Arm| {
        ["guard.synthetic_share", "guard.distinct_2", "guard.diversity", "guard.near_dup_rate"]
            .iter()
            .map(|k| {
                format!(
                    "{} {}",
                    k.trim_start_matches("guard."),
                    a.get(None, k).map_or("—".into(), |v| format!("{v:.3}"))
                )
            })
            .collect::<Vec<_>>()
            .join(" · ")
    };
    println!("collapse guard, round 1: {}", guard(arms[1]));
    for a in round_arms {
        println!("collapse guard, {}: {}", a.name, guard(a));
    }
    let full = em(arms[2]);
    for (x, a) in triage {
        let share = match (em(a), acc, full) {
            (Some(v), Some(n), Some(f)) => {
                share_of_gain(v, n, f).map_or("—".into(), |s| format!("{:.0}%", s * 100.0))
            }
            _ => "—".into(),
        };
        println!("triage: the curator decides {:.0}% of the queue: {share} of the full-curation gain (over accept-all)", x * 100.0);
    }
    let (b, v, f) =
        (em(base).unwrap_or(f64::NAN), em(arms[1]).unwrap_or(f64::NAN), full.unwrap_or(f64::NAN));
    let acc = acc.unwrap_or(f64::NAN);
    let best = v.max(f);
    let t25 = triage
        .iter()
        .find(|(x, _)| (*x - 0.25).abs() < 1e-9)
        .and_then(|(_, a)| em(a))
        .and_then(|t| share_of_gain(t, acc, f))
        .unwrap_or(f64::NAN);
    let ok = |c: bool| if c { "met" } else { "NOT met" };
    println!(
        "target curated ≥ base + 20 points: {} ({:+.1})",
        ok(best - b >= 0.2),
        (best - b) * 100.0
    );
    println!(
        "target curated ≥ accept-all + 10 points: {} ({:+.1})",
        ok(best - acc >= 0.1),
        (best - acc) * 100.0
    );
    println!(
        "target three rounds never drop more than 2 points: {} (largest drop {:.1})",
        ok(max_drop(rounds) <= 0.02),
        max_drop(rounds) * 100.0
    );
    if t25.is_nan() {
        println!("target ≥ 90% of the gain at X = 25%: not measurable (full curation gained nothing over accept-all)");
    } else {
        println!("target ≥ 90% of the gain at X = 25%: {} ({:.0}%)", ok(t25 >= 0.9), t25 * 100.0);
    }
    println!("target whole bench ≤ 30 minutes: {} ({minutes:.1} min)", ok(minutes <= 30.0));
    println!(
        "bench outcome: base={:.3} accept_all={:.3} verified={:.3} reference_fix={:.3} rounds={} triage25_share={:.2} minutes={minutes:.1}",
        b, acc, v, f,
        rounds.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(","),
        t25
    );
}
