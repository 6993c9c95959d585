//! What the studio relies on: the waker is called on progress and on finish, coalesced; and a
//! UI loop calling `snapshot` + `drain_finished` keeps producing frames while jobs run.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::thread;

use common::{HANG, gate, queue, recv};
use previz_jobs::{JobError, JobKind, JobOutput, JobQueue, JobSpec, JobState, QueueConfig};

#[test]
fn the_waker_is_called_once_a_job_finishes() {
    let queue = queue(1);
    // The waker looks at the queue when called, to tell whether it saw the job finished. (A
    // real waker must not hold the queue: the slot is emptied at the end to break the cycle.)
    let slot: Arc<Mutex<Option<JobQueue>>> = Arc::new(Mutex::new(Some(queue.clone())));
    let waker_slot = Arc::clone(&slot);
    let (woken_tx, woken) = channel();
    queue.set_waker(Arc::new(move || {
        let queue = waker_slot.lock().unwrap().clone();
        if let Some(queue) = queue {
            let rows = queue.snapshot();
            let all_finished =
                !rows.is_empty() && rows.iter().all(previz_jobs::JobSnapshot::is_finished);
            woken_tx.send(all_finished).ok();
        }
    }));
    let (started_tx, started) = channel();
    let (open, wait) = gate();
    queue.submit(JobSpec::new(JobKind::Other, "quiet"), move |_| {
        started_tx.send(()).ok();
        wait.recv().ok();
        Ok(JobOutput::default())
    });
    recv(&started);
    assert!(!recv(&woken), "woken for the submission or the start");
    open.send(()).ok();
    assert!(queue.wait_idle(HANG));
    // A wake that sees the job finished must follow; earlier ones may still be in flight.
    while !recv(&woken) {}
    assert_eq!(queue.drain_finished().len(), 1);
    slot.lock().unwrap().take();
}

#[test]
fn waker_calls_are_coalesced_and_the_last_change_is_never_swallowed() {
    let queue = queue(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let (call_tx, call) = channel();
    let (release_tx, release) = channel::<()>();
    let release = Mutex::new(release);
    let counted = Arc::clone(&calls);
    queue.set_waker(Arc::new(move || {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        call_tx.send(n).ok();
        if n == 0 {
            // The first call blocks, like a UI thread busy with a long frame.
            release.lock().unwrap().recv().ok();
        }
    }));

    let (go_tx, go) = channel::<()>();
    let (reported_tx, reported) = channel();
    let (finish_tx, finish) = channel::<()>();
    let id = queue.submit(JobSpec::new(JobKind::Frames, "chatty"), move |ctx| {
        go.recv().ok();
        for i in 0..10_000 {
            ctx.progress(i as f32 / 10_000.0, "denoising");
            if i % 100 == 0 {
                ctx.log(format!("step {i}"));
            }
        }
        reported_tx.send(()).ok();
        finish.recv().ok();
        Ok(JobOutput::default())
    });

    assert_eq!(recv(&call), 0, "the submission wakes the UI");
    // Every report happens while the first call is still running...
    go_tx.send(()).ok();
    recv(&reported);
    release_tx.send(()).ok();
    // ...and 10,100 reports become exactly one more call, after it.
    assert_eq!(recv(&call), 1);
    finish_tx.send(()).ok();
    assert_eq!(recv(&call), 2, "the finish wakes the UI");
    assert!(queue.wait_idle(HANG));
    assert_eq!(queue.drain_finished().len(), 1);
    assert_eq!(queue.job(id).map(|s| s.state), Some(JobState::Succeeded));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// One frame of the studio: what its update function does with the queue.
fn frame(queue: &JobQueue, drained: &mut Vec<previz_jobs::Finished>) -> usize {
    let rows = queue.snapshot();
    drained.extend(queue.drain_finished());
    rows.len()
}

#[test]
fn frames_keep_coming_while_jobs_run() {
    const FRAMES: usize = 2_000;
    let queue = JobQueue::new(QueueConfig {
        workers: 2,
        interactive_workers: 1,
        shutdown_grace: HANG,
        ..QueueConfig::default()
    });
    // A job busy-looping on progress and logs, and one blocked inside its work: neither may
    // hold the UI up.
    let (busy_started_tx, busy_started) = channel();
    let busy = queue.submit(JobSpec::new(JobKind::Frames, "busy"), move |ctx| {
        busy_started_tx.send(()).ok();
        let mut step = 0_u64;
        loop {
            ctx.check()?;
            step += 1;
            ctx.progress((step % 1000) as f32 / 1000.0, format!("step {step}"));
            if step.is_multiple_of(64) {
                ctx.log(format!("step {step}"));
            }
        }
    });
    let (blocked_started_tx, blocked_started) = channel();
    let (open, wait) = gate();
    let blocked = queue.submit(JobSpec::new(JobKind::Breakdown, "blocked"), move |_| {
        blocked_started_tx.send(()).ok();
        wait.recv().ok();
        Ok(JobOutput::new("unblocked"))
    });
    recv(&busy_started);
    recv(&blocked_started);

    let mut drained = Vec::new();
    let mut frames = 0;
    while frames < FRAMES {
        assert_eq!(frame(&queue, &mut drained), 2);
        frames += 1;
    }
    // All those frames happened while both jobs were still running.
    let states: Vec<_> = queue.snapshot().into_iter().map(|s| s.state).collect();
    assert_eq!(states, vec![JobState::Running, JobState::Running]);
    assert!(drained.is_empty());
    assert_eq!(frames, FRAMES);

    // Short jobs submitted from the UI thread meanwhile finish and are drained by frames.
    for i in 0..20 {
        queue.submit(
            JobSpec::new(JobKind::Thumbnail, format!("thumb {i}")),
            |_| Ok(JobOutput::default()),
        );
    }
    queue.cancel(busy);
    open.send(()).ok();
    while !queue.wait_idle(std::time::Duration::from_millis(1)) {
        frame(&queue, &mut drained);
        thread::yield_now();
    }
    frame(&queue, &mut drained);
    assert_eq!(drained.len(), 22);
    let result_of = |id| drained.iter().find(|f| f.id == id).map(|f| &f.result);
    assert!(matches!(result_of(busy), Some(Err(JobError::Cancelled))));
    assert!(matches!(result_of(blocked), Some(Ok(_))));
}

#[test]
fn a_panicking_waker_does_not_stop_the_wakes() {
    let queue = queue(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let (woken_tx, woken) = channel();
    let counted = Arc::clone(&calls);
    queue.set_waker(Arc::new(move || {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        woken_tx.send(n).ok();
        if n == 0 {
            panic!("the app's waker has a bug");
        }
    }));
    let (open, wait) = gate();
    queue.submit(JobSpec::new(JobKind::Other, "job"), move |_| {
        wait.recv().ok();
        Ok(JobOutput::default())
    });
    assert_eq!(recv(&woken), 0);
    open.send(()).ok();
    assert!(queue.wait_idle(HANG));
    assert!(recv(&woken) >= 1, "woken again after the panic");
    assert_eq!(queue.drain_finished().len(), 1);
}
