//! Many requests at once on one backend, their results taken in order: the recipes' attempts,
//! the judge's samples and the evaluation's items keep the local engine's batch full (or an
//! endpoint's requests in flight) while the store is written from one thread, in item order.
//!
//! Item `i` is made on the calling thread right after item `i - width` is taken, never later, so
//! what it sees of earlier results (a recipe's latest kept example, say) is the same however
//! fast the items run: with the same width, the same seed gives the same run.

use super::Generator;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// How many items to keep in flight on `gen` for work of `rows` rows per request, at most
/// `cap`: enough to fill the local engine's batch or an endpoint's `concurrency`, 1 where the
/// backend serves one at a time.
pub fn width(gen: &dyn Generator, rows: usize, cap: usize) -> usize {
    if gen.handle().is_none() {
        return 1;
    }
    // The local engine decodes rows; an endpoint counts requests, and k answers are one.
    let rows = if gen.engine().is_some() { rows.max(1) } else { 1 };
    (gen.parallelism() / rows).clamp(1, cap.max(1))
}

/// Runs items through `work` with up to `width` in flight, each in a thread with its own handle
/// on `gen`, and gives each result to `commit` on this thread in item order. `next(i)` makes
/// item `i`; the run ends when it returns None and every item is taken, when `commit` returns
/// false, or when `cancel` is set (the items in flight are then cancelled and dropped).
pub fn run_ordered<T: Send, R: Send>(
    gen: &mut dyn Generator,
    width: usize,
    cancel: &AtomicBool,
    next: &mut dyn FnMut(usize) -> Option<T>,
    work: &(dyn Fn(&mut dyn Generator, T) -> R + Sync),
    commit: &mut dyn FnMut(usize, R) -> bool,
) {
    let handles: Vec<Box<dyn Generator + Send>> =
        if width > 1 { (0..width).map_while(|_| gen.handle()).collect() } else { Vec::new() };
    if handles.len() < 2 {
        let mut i = 0;
        while !cancel.load(Ordering::Relaxed) {
            let Some(item) = next(i) else { return };
            if !commit(i, work(gen, item)) {
                return;
            }
            i += 1;
        }
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (job_tx, job_rx) = mpsc::channel::<(usize, T)>();
    let job_rx = Mutex::new(job_rx);
    let (out_tx, out_rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|s| {
        for mut h in handles {
            h.set_cancel(stop.clone());
            let (rx, tx, stop) = (&job_rx, out_tx.clone(), &stop);
            s.spawn(move || loop {
                let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((i, item)) = job else { return };
                if stop.load(Ordering::Relaxed) {
                    continue;
                }
                if tx.send((i, work(h.as_mut(), item))).is_err() {
                    return;
                }
            });
        }
        drop(out_tx);
        let (mut made, mut taken, mut more) = (0usize, 0usize, true);
        let mut make = |made: &mut usize, more: &mut bool| {
            if !*more {
                return;
            }
            match next(*made) {
                Some(item) => {
                    let _ = job_tx.send((*made, item));
                    *made += 1;
                }
                None => *more = false,
            }
        };
        while made < width && more {
            make(&mut made, &mut more);
        }
        let mut ready: BTreeMap<usize, R> = BTreeMap::new();
        while taken < made {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            match out_rx.recv_timeout(Duration::from_millis(50)) {
                Ok((i, r)) => {
                    ready.insert(i, r);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let mut go_on = true;
            while let Some(r) = ready.remove(&taken) {
                go_on = commit(taken, r);
                taken += 1;
                if !go_on {
                    break;
                }
                make(&mut made, &mut more);
            }
            if !go_on {
                break;
            }
        }
        stop.store(true, Ordering::SeqCst);
        drop(job_tx);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::local::{Completion, FinishReason};
    use crate::llm::{GenParams, LlmError};
    use crate::sample::Message;

    /// Answers with the prompt's text after a delay that makes later items finish first.
    #[derive(Clone)]
    struct Echo;

    impl Generator for Echo {
        fn generate(
            &mut self,
            m: &[Message],
            _: &GenParams,
            _: usize,
        ) -> Result<Vec<Completion>, LlmError> {
            let i: u64 = m[0].content.parse().unwrap_or(0);
            std::thread::sleep(Duration::from_millis(20 - i % 4 * 5));
            let c = Completion {
                text: m[0].content.clone(),
                tokens: vec![],
                logprobs: vec![],
                finish: FinishReason::Stop,
                prompt_tokens: 0,
                completion_tokens: 1,
                reasoning: None,
            };
            Ok(vec![c])
        }
        fn complete(
            &mut self,
            _: &str,
            _: &GenParams,
            _: usize,
        ) -> Result<Vec<Completion>, LlmError> {
            unreachable!()
        }
        fn name(&self) -> String {
            "echo".into()
        }
        fn handle(&self) -> Option<Box<dyn Generator + Send>> {
            Some(Box::new(Echo))
        }
        fn parallelism(&self) -> usize {
            8
        }
        fn engine(&self) -> Option<String> {
            Some("echo rows".into()) // counts rows, as the local engine does
        }
    }

    #[test]
    fn results_come_in_order_and_items_see_only_what_is_width_behind() {
        let cancel = AtomicBool::new(false);
        for w in [1, 4] {
            let taken = Mutex::new(Vec::new());
            let mut seen_when_made = Vec::new();
            run_ordered(
                &mut Echo,
                w,
                &cancel,
                &mut |i| {
                    seen_when_made.push(taken.lock().unwrap().len());
                    (i < 10).then_some(i)
                },
                &|g, i| {
                    g.generate(
                        &[Message { role: crate::sample::Role::User, content: i.to_string() }],
                        &GenParams::default(),
                        1,
                    )
                    .unwrap()
                    .remove(0)
                    .text
                },
                &mut |i, text| {
                    assert_eq!(text, i.to_string());
                    taken.lock().unwrap().push(i);
                    i < 7
                },
            );
            assert_eq!(*taken.lock().unwrap(), (0..8).collect::<Vec<_>>(), "width {w}");
            let want: Vec<usize> =
                (0..seen_when_made.len()).map(|i| i.saturating_sub(w - 1)).collect();
            assert_eq!(seen_when_made, want, "width {w}");
        }
        assert_eq!(width(&Echo, 2, 100), 4);
    }
}
