//! The engine's threads: a fork-join pool whose caller works too, with units handed out one at a
//! time from a shared counter, so a thread the OS takes away for a while (another process on
//! its core) delays only the unit it holds: the others take the rest.
//!
//! Waiting never spins on the core. A thread with nothing to do polls for at most
//! `poll` (default 50 µs) with `sched_yield`, which gives the core to any other runnable
//! thread, then sleeps on a condition variable until the next job. The poll window covers the
//! few microseconds between the parallel regions of one decoding step; a longer idle (between
//! steps or requests) costs one wake-up.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Job = dyn Fn(usize) + Sync;

/// The most threads any engine of this process takes part with (0: no cap). The workbench sets
/// 1 while its trainer or evaluation (one thread each) runs beside the teacher, so that each
/// keeps a core; without it, two threads synchronised per parallel loop wait on a core the
/// trainer holds.
static CAP: AtomicUsize = AtomicUsize::new(0);

/// Sets [`CAP`] (0 lifts it).
pub fn set_cap(threads: usize) {
    CAP.store(threads, Ordering::SeqCst);
}

/// The job being run: the closure (valid while its `run` call lasts) and its unit count.
struct Slot {
    epoch: u32,
    job: Option<*const Job>,
    n: usize,
}

// SAFETY: the pointer is only dereferenced for a unit claimed within its epoch, while `run` (which
// owns the closure) waits for every such unit to finish.
unsafe impl Send for Slot {}

struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
    /// `epoch << 32 | next unit`: a unit is claimed by one compare-and-swap.
    state: AtomicU64,
    done: AtomicUsize,
    /// Whether the caller sleeps waiting for the last unit.
    caller_sleeps: Mutex<bool>,
    finished: Condvar,
    sleepers: AtomicUsize,
    /// Threads taking part, the caller included.
    active: AtomicUsize,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    poll: Duration,
}

/// A fixed set of threads for the engine's parallel loops.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Threads taking part now: the pool's setting under the process's cap.
    fn active(&self) -> usize {
        let a = self.active.load(Ordering::Relaxed);
        match CAP.load(Ordering::Relaxed) {
            0 => a,
            cap => a.min(cap),
        }
    }

    /// Runs units of `epoch` until none is left.
    fn work(&self, epoch: u32, job: *const Job, n: usize) {
        loop {
            let cur = self.state.load(Ordering::Acquire);
            let i = (cur & 0xffff_ffff) as usize;
            if (cur >> 32) as u32 != epoch || i >= n {
                return;
            }
            let next = cur + 1;
            if self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            // SAFETY: unit `i` of this epoch was claimed, so `run` still waits for it.
            let ran = catch_unwind(AssertUnwindSafe(|| unsafe { (*job)(i) }));
            if ran.is_err() {
                self.panicked.store(true, Ordering::SeqCst);
            }
            if self.done.fetch_add(1, Ordering::AcqRel) + 1 == n && *lock(&self.caller_sleeps) {
                self.finished.notify_one();
            }
        }
    }

    fn worker(&self, index: usize) {
        let mut seen = 0u32;
        loop {
            let start = Instant::now();
            while (self.state.load(Ordering::Acquire) >> 32) as u32 == seen
                && !self.shutdown.load(Ordering::Acquire)
            {
                if start.elapsed() >= self.poll {
                    let mut g = lock(&self.slot);
                    while g.epoch == seen && !self.shutdown.load(Ordering::Acquire) {
                        self.sleepers.fetch_add(1, Ordering::SeqCst);
                        g = self.wake.wait(g).unwrap_or_else(|e| e.into_inner());
                        self.sleepers.fetch_sub(1, Ordering::SeqCst);
                    }
                    break;
                }
                std::thread::yield_now();
            }
            if self.shutdown.load(Ordering::Acquire) {
                return;
            }
            let (epoch, job, n) = {
                let g = lock(&self.slot);
                (g.epoch, g.job, g.n)
            };
            seen = epoch;
            if let Some(job) = job.filter(|_| index < self.active()) {
                self.work(epoch, job, n);
            }
        }
    }
}

impl Pool {
    /// A pool of `threads` (the caller counts as one; at least 1). Idle threads poll for `poll`
    /// before they sleep.
    pub fn new(threads: usize, poll: Duration) -> Pool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot { epoch: 0, job: None, n: 0 }),
            wake: Condvar::new(),
            state: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            caller_sleeps: Mutex::new(false),
            finished: Condvar::new(),
            sleepers: AtomicUsize::new(0),
            active: AtomicUsize::new(threads),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            poll,
        });
        let workers = (1..threads)
            .filter_map(|i| {
                let s = shared.clone();
                std::thread::Builder::new()
                    .name(format!("engine-{i}"))
                    .spawn(move || s.worker(i))
                    .ok()
            })
            .collect::<Vec<_>>();
        shared.active.store(workers.len() + 1, Ordering::SeqCst);
        Pool { shared, workers }
    }

    /// The poll window from `DISTILLERY_POLL_US` (microseconds), else 50 µs.
    pub fn poll_from_env() -> Duration {
        let us = std::env::var("DISTILLERY_POLL_US").ok().and_then(|v| v.parse().ok());
        Duration::from_micros(us.unwrap_or(50))
    }

    /// Threads the pool has, the caller included.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Threads that take part in the next jobs (1 to [`Pool::threads`]): the workbench lowers it
    /// while a trainer shares the cores.
    pub fn set_active(&self, n: usize) {
        self.shared.active.store(n.clamp(1, self.threads()), Ordering::SeqCst);
    }

    pub fn active(&self) -> usize {
        self.shared.active()
    }

    /// Calls `f(i)` for every `i < n`, on the pool's threads and the caller's, and returns when
    /// all calls have. Panics when one of them panicked.
    pub fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        let s = &*self.shared;
        if n <= 1 || self.active() == 1 {
            (0..n).for_each(f);
            return;
        }
        assert!(n < u32::MAX as usize, "too many units");
        // SAFETY: only the lifetime is erased; workers use the pointer for units of this epoch,
        // and this call returns only once every one of them has finished.
        let job: *const Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &Job>(f) };
        let epoch = {
            let mut g = lock(&s.slot);
            g.epoch = g.epoch.wrapping_add(1);
            g.job = Some(job);
            g.n = n;
            s.done.store(0, Ordering::SeqCst);
            s.state.store((g.epoch as u64) << 32, Ordering::Release);
            if s.sleepers.load(Ordering::SeqCst) > 0 {
                s.wake.notify_all();
            }
            g.epoch
        };
        s.work(epoch, job, n);
        let start = Instant::now();
        while s.done.load(Ordering::Acquire) < n {
            if start.elapsed() >= s.poll {
                let mut g = lock(&s.caller_sleeps);
                *g = true;
                while s.done.load(Ordering::Acquire) < n {
                    g = s.finished.wait(g).unwrap_or_else(|e| e.into_inner());
                }
                *g = false;
                break;
            }
            std::thread::yield_now();
        }
        lock(&s.slot).job = None;
        if s.panicked.swap(false, Ordering::SeqCst) {
            panic!("an engine thread panicked");
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            let mut g = lock(&self.shared.slot);
            g.epoch = g.epoch.wrapping_add(1);
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_runs_once_whatever_the_thread_count() {
        for threads in [1, 2, 3] {
            let pool = Pool::new(threads, Duration::from_micros(20));
            for n in [0, 1, 2, 7, 100] {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                for _ in 0..50 {
                    pool.run(n, &|i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    });
                }
                assert!(
                    hits.iter().all(|h| h.load(Ordering::Relaxed) == 50),
                    "{threads} threads, {n} units"
                );
            }
            pool.set_active(1);
            let sum = AtomicUsize::new(0);
            pool.run(10, &|i| {
                sum.fetch_add(i, Ordering::Relaxed);
            });
            assert_eq!(sum.load(Ordering::Relaxed), 45);
        }
    }

    #[test]
    fn idle_workers_sleep_and_wake_for_the_next_job() {
        let pool = Pool::new(2, Duration::from_micros(1));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pool.shared.sleepers.load(Ordering::SeqCst), 1, "the worker sleeps");
        let seen = Mutex::new(std::collections::HashSet::new());
        pool.run(64, &|_| {
            std::thread::sleep(Duration::from_micros(200));
            lock(&seen).insert(std::thread::current().id());
        });
        assert_eq!(lock(&seen).len(), 2, "both threads took units");
    }

    #[test]
    fn a_panicking_unit_is_reported_to_the_caller() {
        let pool = Pool::new(2, Duration::from_micros(10));
        let r = catch_unwind(AssertUnwindSafe(|| pool.run(8, &|i| assert!(i != 5))));
        assert!(r.is_err());
        pool.run(4, &|_| {});
    }
}
