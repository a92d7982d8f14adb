//! Crash safety: a child applies decisions in a loop and is killed with SIGKILL at random points,
//! many times. Every decision it reported as committed must be in the log exactly once, in order,
//! and SQLite's integrity check must pass.

use distillery::store::Store;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 30;

#[test]
fn sigkill_never_loses_a_committed_decision() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
            | 1;
    let mut rng = seed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut total_reported = 0;
    for round in 0..ROUNDS {
        let session = format!("crash-{round}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_distillery"))
            .args(["debug", "crash-writer", "--db"])
            .arg(&db)
            .args(["--session", &session, "--seed", &(next() % 1000 + 1).to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Read lines on a thread so the kill lands at a random moment, mid-write or not.
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<String>>()
        });
        let wait = Duration::from_millis(20 + next() % 200);
        let start = Instant::now();
        while start.elapsed() < wait {
            std::thread::yield_now();
            std::thread::park_timeout(Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let reported: Vec<(i64, i64, String)> = reader
            .join()
            .unwrap()
            .iter()
            .filter_map(|l| {
                let mut p = l.split_whitespace();
                (p.next()? == "committed").then(|| {
                    Some((p.next()?.parse().ok()?, p.next()?.parse().ok()?, p.next()?.to_owned()))
                })?
            })
            .collect();
        total_reported += reported.len();
        let store = Store::open(&db).unwrap();
        assert_eq!(store.integrity_check(), Ok(()), "round {round} (seed {seed})");
        // The first event of each batch, in log order.
        let mut logged: Vec<(i64, i64, String)> = Vec::new();
        for ev in store.session_events(&session).unwrap() {
            if logged.last().is_none_or(|l| l.0 != ev.0) {
                logged.push(ev);
            }
        }
        let mut ids: Vec<i64> = logged.iter().map(|l| l.0).collect();
        ids.dedup();
        assert_eq!(
            ids.len(),
            logged.len(),
            "round {round} (seed {seed}): a batch appears twice in the log"
        );
        assert!(
            logged.len() == reported.len() || logged.len() == reported.len() + 1,
            "round {round} (seed {seed}): {} batches logged, {} reported; at most one may be committed unreported",
            logged.len(),
            reported.len()
        );
        assert_eq!(
            &logged[..reported.len()],
            &reported[..],
            "round {round} (seed {seed}): every reported decision, once, in order"
        );
    }
    assert!(
        total_reported > ROUNDS,
        "the writer made progress before being killed ({total_reported} decisions)"
    );
    let mut store = Store::open(&db).unwrap();
    assert!(
        store.rebuild_state().unwrap().is_empty(),
        "the derived state matches the log after {ROUNDS} kills"
    );
}
