//! The queue on real threads: progress, results, cancellation, panics, priorities, shutdown.
//! Synchronisation is by channels and `wait_idle`; the only polling is for an ETA, which needs
//! time to pass.

mod common;

use std::collections::HashSet;
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{HANG, find, gate, poll_until, queue, recv};
use previz_core::EditCommand;
use previz_jobs::{
    CancelToken, JobError, JobKind, JobOutput, JobQueue, JobSpec, JobState, Priority, QueueConfig,
};

fn rename(name: &str) -> EditCommand {
    EditCommand::RenameTimeline { name: name.into() }
}

#[test]
fn progress_log_and_eta_show_in_snapshots_and_results_come_once() {
    let queue = queue(1);
    let (reported_tx, reported) = channel();
    let (open, wait) = gate();
    let spec = JobSpec::new(JobKind::Breakdown, "Breakdown of scene 3");
    let id = queue.submit(spec, move |ctx| {
        ctx.progress(0.25, "scene 3 of 12");
        ctx.log("loaded the model");
        ctx.log("prompt: 812 tokens\nreply: 96 tokens");
        reported_tx.send(()).ok();
        wait.recv().ok();
        Ok(JobOutput::new("2 shots").with_commands(vec![rename("a"), rename("b")]))
    });

    recv(&reported);
    let row = find(&queue, id);
    assert_eq!(row.state, JobState::Running);
    assert_eq!(row.name, "Breakdown of scene 3");
    assert_eq!(row.kind, JobKind::Breakdown);
    assert!((row.progress - 0.25).abs() < f32::EPSILON);
    assert_eq!(row.message, "scene 3 of 12");
    assert_eq!(
        row.log_tail,
        vec!["loaded the model", "prompt: 812 tokens", "reply: 96 tokens"]
    );
    assert!(row.started_at.is_some());
    assert_eq!(queue.job_log(id).map(|log| log.len()), Some(3));

    // At 25 % the ETA is three times the elapsed time, once half a second has passed.
    let row = poll_until(&queue, id, |row| row.eta.is_some());
    let eta = row.eta.unwrap_or_default();
    assert!(eta > Duration::ZERO);

    open.send(()).ok();
    assert!(queue.wait_idle(HANG));
    let mut finished = queue.drain_finished();
    assert_eq!(finished.len(), 1);
    assert!(
        queue.drain_finished().is_empty(),
        "a result is drained once"
    );
    let done = &mut finished[0];
    assert_eq!(done.id, id);
    assert_eq!(done.log.len(), 3);
    assert_eq!(
        done.result.as_ref().map(|o| o.summary.as_str()),
        Ok("2 shots")
    );
    assert_eq!(
        done.take_edit(),
        Some(EditCommand::Batch {
            label: "Breakdown of scene 3".into(),
            commands: vec![rename("a"), rename("b")],
        })
    );
    assert_eq!(done.take_edit(), None, "the edit is taken once");

    let row = find(&queue, id);
    assert_eq!(row.state, JobState::Succeeded);
    assert!((row.progress - 1.0).abs() < f32::EPSILON);
    assert_eq!(row.eta, None);
    assert!(row.finished_at.is_some());
}

#[test]
fn every_result_is_drained_exactly_once() {
    let queue = queue(2);
    let ids: HashSet<_> = (0..50)
        .map(|i| {
            let spec = JobSpec::new(JobKind::Other, format!("job {i}"));
            queue.submit(spec, move |_| Ok(JobOutput::new(i.to_string())))
        })
        .collect();
    assert_eq!(ids.len(), 50, "ids are unique");
    assert!(queue.wait_idle(HANG));
    let drained = queue.drain_finished();
    let drained_ids: HashSet<_> = drained.iter().map(|f| f.id).collect();
    assert_eq!(drained.len(), 50);
    assert_eq!(drained_ids, ids);
    assert!(drained.iter().all(previz_jobs::Finished::succeeded));
    assert!(queue.drain_finished().is_empty());
    assert_eq!(queue.stats().undrained, 0);
}

#[test]
fn a_cancelled_queued_job_never_runs() {
    let queue = queue(1);
    let (open, wait) = gate();
    let (started_tx, started) = channel();
    let blocker = queue.submit(JobSpec::new(JobKind::Other, "blocker"), move |_| {
        started_tx.send(()).ok();
        wait.recv().ok();
        Ok(JobOutput::default())
    });
    recv(&started);
    let ran = Arc::new(Mutex::new(false));
    let ran_in_job = Arc::clone(&ran);
    let queued = queue.submit(JobSpec::new(JobKind::Export, "export"), move |_| {
        *ran_in_job.lock().unwrap() = true;
        Ok(JobOutput::default())
    });
    assert_eq!(find(&queue, queued).state, JobState::Queued);

    assert!(queue.cancel(queued));
    assert_eq!(find(&queue, queued).state, JobState::Cancelled, "at once");
    assert!(!queue.cancel(queued), "already finished");
    let finished = queue.drain_finished();
    assert_eq!(
        finished.len(),
        1,
        "its result is ready before the blocker ends"
    );
    assert_eq!(finished[0].id, queued);
    assert_eq!(
        finished[0].result.as_ref().err(),
        Some(&JobError::Cancelled)
    );
    assert_eq!(finished[0].elapsed, Duration::ZERO);

    open.send(()).ok();
    assert!(queue.wait_idle(HANG));
    assert!(!*ran.lock().unwrap());
    let rest: Vec<_> = queue.drain_finished().into_iter().map(|f| f.id).collect();
    assert_eq!(rest, vec![blocker]);
}

#[test]
fn a_cancelled_running_job_stops_at_its_next_check() {
    let queue = queue(1);
    let (started_tx, started) = channel();
    let (steps_tx, steps) = channel();
    let id = queue.submit(JobSpec::new(JobKind::Frames, "frames"), move |ctx| {
        started_tx.send(()).ok();
        let mut step = 0_u64;
        loop {
            ctx.check()?;
            step += 1;
            ctx.progress_fraction((step % 100) as f32 / 100.0);
            steps_tx.send(step).ok();
            thread::yield_now();
        }
    });
    recv(&started);
    assert!(queue.cancel(id));
    assert!(find(&queue, id).cancel_requested);
    assert!(queue.wait_idle(HANG));
    let finished = queue.drain_finished();
    assert_eq!(finished.len(), 1);
    assert_eq!(
        finished[0].result.as_ref().err(),
        Some(&JobError::Cancelled)
    );
    assert_eq!(find(&queue, id).state, JobState::Cancelled);
    assert!(!queue.cancel(id));
    drop(steps);
}

#[test]
fn cancel_all_ends_queued_and_running_jobs() {
    let queue = queue(1);
    let (started_tx, started) = channel();
    let running = queue.submit(JobSpec::new(JobKind::Voices, "voices"), move |ctx| {
        started_tx.send(()).ok();
        let token = ctx.cancel_token();
        while !token.is_cancelled() {
            thread::yield_now();
        }
        Err(JobError::Cancelled)
    });
    recv(&started);
    let queued: Vec<_> = (0..10)
        .map(|i| {
            queue.submit(JobSpec::new(JobKind::Waveform, format!("w{i}")), |_| {
                Ok(JobOutput::default())
            })
        })
        .collect();
    queue.cancel_all();
    assert!(queue.wait_idle(HANG));
    let finished = queue.drain_finished();
    assert_eq!(finished.len(), 11);
    assert!(
        finished
            .iter()
            .all(|f| f.result.as_ref().err() == Some(&JobError::Cancelled))
    );
    for id in queued.into_iter().chain([running]) {
        assert_eq!(find(&queue, id).state, JobState::Cancelled);
    }
}

#[test]
fn a_panicking_job_fails_and_its_worker_takes_the_next_job() {
    let queue = queue(1);
    let crashed = queue.submit(JobSpec::new(JobKind::Frames, "crash"), |ctx| {
        ctx.log("about to crash");
        let steps: Vec<u32> = Vec::new();
        let _ = steps
            .get(3)
            .map_or_else(|| panic!("boom at step 3"), |s| *s);
        Ok(JobOutput::default())
    });
    let odd = queue.submit(JobSpec::new(JobKind::Other, "odd panic"), |_| {
        std::panic::panic_any(42_u8)
    });
    let after = queue.submit(JobSpec::new(JobKind::Other, "after"), |_| {
        Ok(JobOutput::new("still working"))
    });
    assert!(queue.wait_idle(HANG));
    let finished = queue.drain_finished();
    assert_eq!(finished.len(), 3);
    let by_id = |id| finished.iter().find(|f| f.id == id).expect("drained");

    match &by_id(crashed).result {
        Err(JobError::Failed { message, .. }) => assert!(message.contains("boom at step 3")),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(by_id(crashed).log, vec!["about to crash"]);
    assert!(matches!(
        &by_id(odd).result,
        Err(JobError::Failed { message, .. }) if message.contains("without a message")
    ));
    assert!(by_id(after).succeeded());
    assert!(matches!(
        find(&queue, crashed).state,
        JobState::Failed { .. }
    ));
}

#[test]
fn a_failed_job_carries_its_message_and_detail() {
    let queue = queue(1);
    let id = queue.submit(JobSpec::new(JobKind::Import, "import"), |_| {
        let error = std::fs::read("/nonexistent/previz/script.fountain").unwrap_err();
        Err(JobError::from_error(&error).with_detail("while importing script.fountain"))
    });
    assert!(queue.wait_idle(HANG));
    let finished = queue.drain_finished();
    let Err(JobError::Failed { message, detail }) = &finished[0].result else {
        panic!("expected a failure: {:?}", finished[0]);
    };
    assert!(!message.is_empty());
    assert_eq!(detail.as_deref(), Some("while importing script.fountain"));
    assert!(matches!(find(&queue, id).state, JobState::Failed { .. }));
}

#[test]
fn an_interactive_job_runs_before_queued_background_jobs() {
    let queue = queue(1);
    let (open, wait) = gate();
    let (started_tx, started) = channel();
    queue.submit(JobSpec::new(JobKind::Frames, "busy"), move |_| {
        started_tx.send(()).ok();
        wait.recv().ok();
        Ok(JobOutput::default())
    });
    recv(&started);

    let (order_tx, order) = channel();
    let mut background = Vec::new();
    for i in 0..100 {
        let order_tx = order_tx.clone();
        let spec = JobSpec::new(JobKind::Waveform, format!("peaks {i}"))
            .with_priority(Priority::Background);
        background.push(queue.submit(spec, move |ctx| {
            order_tx.send(ctx.id()).ok();
            Ok(JobOutput::default())
        }));
    }
    let normal = {
        let order_tx = order_tx.clone();
        queue.submit(JobSpec::new(JobKind::Export, "export"), move |ctx| {
            order_tx.send(ctx.id()).ok();
            Ok(JobOutput::default())
        })
    };
    let spec = JobSpec::new(JobKind::Thumbnail, "thumb").with_priority(Priority::Interactive);
    let interactive = queue.submit(spec, move |ctx| {
        order_tx.send(ctx.id()).ok();
        Ok(JobOutput::default())
    });

    open.send(()).ok();
    assert!(queue.wait_idle(HANG));
    let ran: Vec<_> = order.try_iter().collect();
    let mut expected = vec![interactive, normal];
    expected.extend(background); // FIFO within a priority
    assert_eq!(ran, expected);
}

#[test]
fn the_interactive_lane_runs_a_thumbnail_while_every_general_worker_is_busy() {
    let queue = JobQueue::new(QueueConfig {
        workers: 1,
        interactive_workers: 1,
        shutdown_grace: HANG,
        ..QueueConfig::default()
    });
    let (open, wait) = gate();
    let (started_tx, started) = channel();
    let busy = queue.submit(JobSpec::new(JobKind::Frames, "diffusion"), move |_| {
        started_tx.send(()).ok();
        wait.recv().ok();
        Ok(JobOutput::default())
    });
    recv(&started);
    // Background work waits for the general worker; the lane leaves it alone.
    let background = queue.submit(
        JobSpec::new(JobKind::Waveform, "peaks").with_priority(Priority::Background),
        |_| Ok(JobOutput::default()),
    );
    let (thumb_tx, thumb) = channel();
    let spec = JobSpec::new(JobKind::Thumbnail, "thumb").with_priority(Priority::Interactive);
    let interactive = queue.submit(spec, move |_| {
        thumb_tx
            .send(thread::current().name().map(str::to_owned))
            .ok();
        Ok(JobOutput::default())
    });
    assert_eq!(recv(&thumb).as_deref(), Some("previz-job-i0"));
    assert_eq!(find(&queue, busy).state, JobState::Running);
    assert_eq!(find(&queue, background).state, JobState::Queued);
    open.send(()).ok();
    assert!(queue.wait_idle(HANG));
    assert_eq!(find(&queue, interactive).state, JobState::Succeeded);
    assert_eq!(find(&queue, background).state, JobState::Succeeded);
}

#[test]
fn workers_are_named_threads() {
    let queue = queue(2);
    let (name_tx, names) = channel();
    queue.submit(JobSpec::new(JobKind::Other, "name"), move |_| {
        name_tx
            .send(thread::current().name().map(str::to_owned))
            .ok();
        Ok(JobOutput::default())
    });
    let name = recv(&names).unwrap_or_default();
    assert!(name.starts_with("previz-job-"), "{name}");
}

#[test]
fn a_key_deduplicates_requests_and_raises_their_priority() {
    let queue = queue(1);
    let (open, wait) = gate();
    let (started_tx, started) = channel();
    queue.submit(JobSpec::new(JobKind::Other, "busy"), move |_| {
        started_tx.send(()).ok();
        wait.recv().ok();
        Ok(JobOutput::default())
    });
    recv(&started);
    let other = queue.submit(JobSpec::new(JobKind::Export, "export"), |_| {
        Ok(JobOutput::default())
    });
    let (ran_tx, ran) = channel();
    let spec = |priority| {
        JobSpec::new(JobKind::Thumbnail, "thumb")
            .with_key("thumb:abc@128")
            .with_priority(priority)
    };
    let ran_tx_first = ran_tx.clone();
    let first = queue.submit(spec(Priority::Background), move |ctx| {
        ran_tx_first.send(ctx.id()).ok();
        Ok(JobOutput::default())
    });
    let second = queue.submit(spec(Priority::Interactive), move |ctx| {
        ran_tx.send(ctx.id()).ok();
        Ok(JobOutput::default())
    });
    assert_eq!(first, second, "the same job");
    assert_eq!(find(&queue, first).priority, Priority::Interactive);

    open.send(()).ok();
    assert!(queue.wait_idle(HANG));
    assert_eq!(ran.try_iter().collect::<Vec<_>>(), vec![first], "ran once");
    let order: Vec<_> = queue.drain_finished().into_iter().map(|f| f.id).collect();
    let at = |id| order.iter().position(|x| *x == id);
    assert!(
        at(first) < at(other),
        "raised above the normal job: {order:?}"
    );

    // Once finished, the key is free again.
    let third = queue.submit(spec(Priority::Normal), |_| Ok(JobOutput::default()));
    assert_ne!(third, first);
    assert!(queue.wait_idle(HANG));
}

#[test]
fn finished_jobs_stay_in_the_snapshot_until_cleared_or_crowded_out() {
    let queue = JobQueue::new(QueueConfig {
        workers: 1,
        interactive_workers: 0,
        keep_finished: 3,
        ..QueueConfig::default()
    });
    let ids: Vec<_> = (0..5)
        .map(|i| {
            queue.submit(JobSpec::new(JobKind::Other, format!("j{i}")), |_| {
                Ok(JobOutput::default())
            })
        })
        .collect();
    assert!(queue.wait_idle(HANG));
    let shown: Vec<_> = queue.snapshot().into_iter().map(|s| s.id).collect();
    assert_eq!(shown, ids[2..].to_vec(), "the last 3, in submission order");
    assert_eq!(
        queue.drain_finished().len(),
        5,
        "results are kept regardless"
    );

    let (open, wait) = gate();
    let running = queue.submit(JobSpec::new(JobKind::Other, "running"), move |_| {
        wait.recv().ok();
        Ok(JobOutput::default())
    });
    queue.clear_finished();
    let shown: Vec<_> = queue.snapshot().into_iter().map(|s| s.id).collect();
    assert_eq!(shown, vec![running], "clearing keeps unfinished jobs");
    open.send(()).ok();
    assert!(queue.wait_idle(HANG));
}

#[test]
fn wait_idle_inside_a_job_returns_false_instead_of_waiting_for_itself() {
    let queue = queue(1);
    let inner = queue.clone();
    queue.submit(JobSpec::new(JobKind::Other, "self"), move |_| {
        if inner.wait_idle(HANG) {
            Err(JobError::failed(
                "the queue cannot be idle while this job runs",
            ))
        } else {
            Ok(JobOutput::default())
        }
    });
    assert!(queue.wait_idle(HANG));
    assert!(queue.drain_finished()[0].succeeded());
}

#[test]
fn wait_idle_times_out_while_a_job_runs() {
    let queue = queue(1);
    let (open, wait) = gate();
    queue.submit(JobSpec::new(JobKind::Other, "busy"), move |_| {
        wait.recv().ok();
        Ok(JobOutput::default())
    });
    assert!(!queue.wait_idle(Duration::from_millis(20)));
    assert_eq!(queue.stats().queued + queue.stats().running, 1);
    open.send(()).ok();
    assert!(
        queue.wait_idle(Duration::MAX),
        "an unbounded timeout does not overflow"
    );
}

#[test]
fn shutdown_gives_up_on_a_job_that_ignores_cancellation_and_names_it() {
    let queue = JobQueue::new(QueueConfig {
        workers: 1,
        interactive_workers: 0,
        ..QueueConfig::default()
    });
    let (open, wait) = gate();
    let (started_tx, started) = channel();
    let stubborn = queue.submit(JobSpec::new(JobKind::Frames, "stubborn"), move |_| {
        started_tx.send(()).ok();
        wait.recv().ok(); // never checks its token
        Ok(JobOutput::default())
    });
    let queued = queue.submit(JobSpec::new(JobKind::Other, "queued"), |_| {
        Ok(JobOutput::default())
    });
    recv(&started);

    let report = queue.shutdown(Duration::from_millis(100));
    assert!(!report.is_clean());
    assert_eq!(report.cancelled_queued, 1);
    assert_eq!(report.cancelled_running, 1);
    assert_eq!(report.stuck_threads, 1);
    assert_eq!(report.abandoned.len(), 1);
    assert_eq!(report.abandoned[0].id, stubborn);
    assert!(report.to_string().contains("'stubborn'"), "{report}");
    assert_eq!(find(&queue, queued).state, JobState::Cancelled);

    // Submissions after shutdown end at once.
    let late = queue.submit(JobSpec::new(JobKind::Other, "late"), |_| {
        Ok(JobOutput::default())
    });
    assert_eq!(find(&queue, late).state, JobState::Cancelled);

    // The abandoned job still hands in its result when it ends, and a second shutdown
    // joins its thread.
    open.send(()).ok();
    let report = queue.shutdown(HANG);
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.joined_threads, 1);
    let finished: Vec<_> = queue.drain_finished().into_iter().map(|f| f.id).collect();
    assert_eq!(finished.len(), 3);
    assert!(finished.contains(&stubborn));
}

#[test]
fn dropping_the_queue_does_not_hang_on_a_stubborn_job() {
    let queue = JobQueue::new(QueueConfig {
        workers: 1,
        interactive_workers: 1,
        shutdown_grace: Duration::from_millis(50),
        ..QueueConfig::default()
    });
    let (started_tx, started) = channel();
    let (open, wait) = gate();
    queue.submit(JobSpec::new(JobKind::Frames, "stubborn"), move |_| {
        started_tx.send(()).ok();
        wait.recv().ok();
        Ok(JobOutput::default())
    });
    recv(&started);
    drop(queue); // returns after the grace period, saying so on stderr
    open.send(()).ok(); // lets the detached thread end
}

#[test]
fn a_clean_shutdown_joins_every_thread() {
    let queue = JobQueue::new(QueueConfig {
        workers: 2,
        interactive_workers: 1,
        ..QueueConfig::default()
    });
    queue.submit(JobSpec::new(JobKind::Other, "quick"), |_| {
        Ok(JobOutput::default())
    });
    let report = queue.shutdown(HANG);
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.joined_threads, 4,
        "2 workers, the lane and the waker thread"
    );
    assert!(report.abandoned.is_empty());
}

#[test]
fn the_last_handle_may_be_dropped_by_a_job() {
    let queue = queue(1);
    let (done_tx, done) = channel();
    let (open, wait) = gate();
    let last_handle = queue.clone();
    queue.submit(JobSpec::new(JobKind::Other, "owner"), move |_| {
        wait.recv().ok();
        drop(last_handle); // shuts the queue down from its own worker
        done_tx.send(()).ok();
        Ok(JobOutput::default())
    });
    drop(queue);
    open.send(()).ok();
    // Had the drop waited for its own thread, it would have sat out the whole grace (HANG).
    done.recv_timeout(HANG / 2)
        .expect("dropping the last handle inside a job returned");
}

#[test]
fn a_standalone_token_cancels_detached_job_code() {
    let token = CancelToken::new();
    let ctx = previz_jobs::JobContext::detached(JobKind::Export, "cli export", token.clone());
    let steps = |ctx: &previz_jobs::JobContext| -> Result<u32, JobError> {
        let mut done = 0;
        for _ in 0..10 {
            ctx.check()?;
            done += 1;
            if done == 4 {
                token.cancel(); // Ctrl-C
            }
        }
        Ok(done)
    };
    assert_eq!(steps(&ctx), Err(JobError::Cancelled));
}
