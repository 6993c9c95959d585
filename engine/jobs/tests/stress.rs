//! Many jobs from several submitting threads, with cancels racing them: every job ends in
//! exactly one terminal state, its result is drained exactly once, and it is the result its
//! behaviour (or a cancel) explains.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex, Once};
use std::thread;

use common::HANG;
use previz_jobs::{
    JobError, JobId, JobKind, JobOutput, JobQueue, JobSpec, JobState, Priority, QueueConfig,
};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    Succeed,
    Fail,
    Panic,
    /// Checks its token this many times, then succeeds.
    Spin(u16),
    /// Gives up by itself.
    ReturnCancelled,
}

#[derive(Clone, Debug)]
struct Plan {
    behaviour: Behaviour,
    priority: Priority,
    /// Another thread cancels it soon after submission.
    cancel: bool,
    /// A dedup key; all plans with one key behave alike, whichever submission the queue keeps.
    key: Option<u8>,
}

fn keyed_behaviour(key: u8) -> Behaviour {
    match key % 3 {
        0 => Behaviour::Succeed,
        1 => Behaviour::Spin(200),
        _ => Behaviour::Fail,
    }
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        4 => Just(Behaviour::Succeed),
        2 => Just(Behaviour::Fail),
        1 => Just(Behaviour::Panic),
        3 => (0_u16..2000).prop_map(Behaviour::Spin),
        1 => Just(Behaviour::ReturnCancelled),
    ]
}

fn priority() -> impl Strategy<Value = Priority> {
    prop_oneof![
        Just(Priority::Interactive),
        Just(Priority::Normal),
        Just(Priority::Background)
    ]
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        behaviour(),
        priority(),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.2, 0_u8..6),
    )
        .prop_map(|(behaviour, priority, cancel, key)| Plan {
            behaviour: key.map_or(behaviour, keyed_behaviour),
            priority,
            cancel,
            key,
        })
}

/// The panics these tests cause on purpose would fill stderr; keep other threads' panics.
fn quiet_job_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_worker = thread::current()
                .name()
                .is_some_and(|name| name.starts_with("previz-job-"));
            let planned = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|m| m.starts_with("planned panic"));
            if !(on_worker && planned) {
                default(info);
            }
        }));
    });
}

fn work(
    behaviour: Behaviour,
) -> impl FnOnce(&previz_jobs::JobContext) -> Result<JobOutput, JobError> {
    move |ctx| match behaviour {
        Behaviour::Succeed => Ok(JobOutput::new("ok")),
        Behaviour::Fail => Err(JobError::failed("planned failure")),
        Behaviour::Panic => panic!("planned panic"),
        Behaviour::Spin(checks) => {
            for i in 0..checks {
                ctx.check()?;
                ctx.progress(f32::from(i) / f32::from(checks.max(1)), "spinning");
                thread::yield_now();
            }
            Ok(JobOutput::new("spun"))
        }
        Behaviour::ReturnCancelled => Err(JobError::Cancelled),
    }
}

/// What a job's result may be: what its behaviour gives, or `Cancelled` if a cancel reached it.
fn explained(behaviour: Behaviour, cancelled: bool, result: &Result<JobOutput, JobError>) -> bool {
    let expected = match behaviour {
        Behaviour::Succeed | Behaviour::Spin(_) => "ok",
        Behaviour::Fail | Behaviour::Panic => "failed",
        Behaviour::ReturnCancelled => "cancelled",
    };
    let got = match result {
        Ok(_) => "ok",
        Err(JobError::Failed { .. }) => "failed",
        Err(JobError::Cancelled) => "cancelled",
    };
    got == expected || (cancelled && got == "cancelled")
}

fn run(plans: &[Plan], submitters: usize, workers: usize, lane: usize, cancel_all: bool) {
    quiet_job_panics();
    let queue = JobQueue::new(QueueConfig {
        workers,
        interactive_workers: lane,
        keep_finished: usize::MAX,
        shutdown_grace: HANG,
        ..QueueConfig::default()
    });
    let submitted: Arc<Mutex<HashMap<JobId, Behaviour>>> = Arc::default();
    let cancelled: Arc<Mutex<HashSet<JobId>>> = Arc::default();
    let (to_cancel_tx, to_cancel) = channel::<JobId>();

    let canceller = {
        let queue = queue.clone();
        let cancelled = Arc::clone(&cancelled);
        thread::spawn(move || {
            for id in to_cancel {
                // Mark first: the job may see its token before `cancel` returns.
                cancelled.lock().unwrap().insert(id);
                queue.cancel(id);
            }
        })
    };
    let chunk = plans.len().div_ceil(submitters.max(1)).max(1);
    thread::scope(|scope| {
        for (n, part) in plans.chunks(chunk).enumerate() {
            let queue = queue.clone();
            let submitted = Arc::clone(&submitted);
            let to_cancel_tx = to_cancel_tx.clone();
            scope.spawn(move || {
                for (i, plan) in part.iter().enumerate() {
                    let mut spec =
                        JobSpec::new(JobKind::ALL[i % JobKind::ALL.len()], format!("{n}/{i}"))
                            .with_priority(plan.priority);
                    if let Some(key) = plan.key {
                        spec = spec.with_key(format!("key {key}"));
                    }
                    let id = queue.submit(spec, work(plan.behaviour));
                    submitted.lock().unwrap().insert(id, plan.behaviour);
                    if plan.cancel {
                        to_cancel_tx.send(id).ok();
                    }
                }
            });
        }
    });
    if cancel_all {
        let ids: Vec<JobId> = submitted.lock().unwrap().keys().copied().collect();
        cancelled.lock().unwrap().extend(ids);
        queue.cancel_all();
    }
    drop(to_cancel_tx);
    canceller.join().unwrap();
    assert!(queue.wait_idle(HANG), "the queue never became idle");

    let submitted = submitted.lock().unwrap();
    let cancelled = cancelled.lock().unwrap();
    let drained = queue.drain_finished();
    assert!(queue.drain_finished().is_empty());
    let mut seen = HashSet::new();
    for finished in &drained {
        assert!(seen.insert(finished.id), "{} drained twice", finished.id);
        let behaviour = submitted[&finished.id];
        assert!(
            explained(
                behaviour,
                cancelled.contains(&finished.id),
                &finished.result
            ),
            "{behaviour:?} ended {:?}",
            finished.result
        );
    }
    let submitted_ids: HashSet<JobId> = submitted.keys().copied().collect();
    assert_eq!(seen, submitted_ids, "every job drained exactly once");

    let rows = queue.snapshot();
    assert_eq!(rows.len(), submitted.len());
    for row in rows {
        let finished = drained.iter().find(|f| f.id == row.id).unwrap();
        let agrees = match (&row.state, &finished.result) {
            (JobState::Succeeded, Ok(_)) | (JobState::Cancelled, Err(JobError::Cancelled)) => true,
            (JobState::Failed { message, .. }, Err(JobError::Failed { message: m, .. })) => {
                message == m
            }
            _ => false,
        };
        assert!(agrees, "{:?} but drained {:?}", row.state, finished.result);
    }
    let report = queue.shutdown(HANG);
    assert!(report.is_clean(), "{report}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn every_job_ends_once_whatever_the_interleaving(
        plans in prop::collection::vec(plan(), 0..60),
        submitters in 1_usize..4,
        workers in 1_usize..4,
        lane in 0_usize..2,
        cancel_all in prop::bool::weighted(0.2),
    ) {
        run(&plans, submitters, workers, lane, cancel_all);
    }
}

#[test]
fn thousands_of_jobs_from_four_threads_with_random_cancels() {
    // A fixed-seed xorshift: the same large mix every run.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let plans: Vec<Plan> = (0..3000)
        .map(|_| {
            let key = (next() % 10 == 0).then(|| (next() % 8) as u8);
            let behaviour = match next() % 10 {
                0..=3 => Behaviour::Succeed,
                4 => Behaviour::Fail,
                5 => Behaviour::Panic,
                6 => Behaviour::ReturnCancelled,
                _ => Behaviour::Spin((next() % 500) as u16),
            };
            Plan {
                behaviour: key.map_or(behaviour, keyed_behaviour),
                priority: Priority::ALL[(next() % 3) as usize],
                cancel: next() % 4 == 0,
                key,
            }
        })
        .collect();
    run(&plans, 4, 2, 1, false);
}
