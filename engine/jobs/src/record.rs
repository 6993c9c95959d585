//! One job's live record: the part workers update while it runs (progress, message, log) behind
//! its own small lock, so a worker reporting progress never contends with the queue's lock or
//! with other workers, and a snapshot only ever waits for one field copy.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::context::CancelToken;
use crate::types::{JobId, JobKind, JobPreview, JobSnapshot, JobSpec, JobState, Priority};

/// Log lines a job keeps; older ones are dropped (and counted).
pub(crate) const LOG_CAPACITY: usize = 500;
/// Log lines a snapshot carries.
pub(crate) const LOG_TAIL: usize = 5;
/// A longer log line or progress message is cut here (at a character boundary), so a job that
/// logs a whole file by mistake costs kilobytes, not megabytes, per line.
pub(crate) const MAX_LINE_BYTES: usize = 4096;
/// No ETA before the job has done this fraction of its work...
const ETA_MIN_PROGRESS: f32 = 0.02;
/// ...and run this long: early rates are dominated by start-up (loading weights).
const ETA_MIN_ELAPSED: Duration = Duration::from_millis(500);

/// Locks a mutex, recovering the data if a thread panicked while holding it. Nothing in this
/// crate panics under a lock, and every critical section leaves its data consistent at each
/// step, so the data behind a poisoned lock is still good; the queue must outlive such a bug
/// rather than take the app down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
pub(crate) struct JobCell {
    pub(crate) id: JobId,
    pub(crate) name: String,
    pub(crate) kind: JobKind,
    pub(crate) key: Option<String>,
    pub(crate) token: CancelToken,
    pub(crate) queued_at: Instant,
    pub(crate) live: Mutex<Live>,
}

#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) state: JobState,
    pub(crate) priority: Priority,
    pub(crate) progress: f32,
    pub(crate) message: String,
    pub(crate) log: VecDeque<String>,
    pub(crate) log_dropped: usize,
    pub(crate) started_at: Option<Instant>,
    pub(crate) finished_at: Option<Instant>,
    /// The worker running it.
    pub(crate) thread: Option<ThreadId>,
    pub(crate) preview: Option<JobPreview>,
}

impl JobCell {
    pub(crate) fn new(id: JobId, spec: JobSpec, token: CancelToken, now: Instant) -> Self {
        Self {
            id,
            name: spec.name,
            kind: spec.kind,
            key: spec.key,
            token,
            queued_at: now,
            live: Mutex::new(Live {
                state: JobState::Queued,
                priority: spec.priority,
                progress: 0.0,
                message: String::new(),
                log: VecDeque::new(),
                log_dropped: 0,
                started_at: None,
                finished_at: None,
                thread: None,
                preview: None,
            }),
        }
    }

    pub(crate) fn snapshot(&self, now: Instant) -> JobSnapshot {
        let live = lock(&self.live);
        let elapsed = live.elapsed(now);
        let eta = if live.state == JobState::Running {
            eta(elapsed, live.progress)
        } else {
            None
        };
        let tail_from = live.log.len().saturating_sub(LOG_TAIL);
        JobSnapshot {
            id: self.id,
            name: self.name.clone(),
            kind: self.kind,
            priority: live.priority,
            state: live.state.clone(),
            progress: live.progress,
            message: live.message.clone(),
            eta,
            elapsed,
            log_tail: live.log.range(tail_from..).cloned().collect(),
            log_dropped: live.log_dropped,
            cancel_requested: self.token.is_cancelled(),
            queued_at: self.queued_at,
            started_at: live.started_at,
            finished_at: live.finished_at,
            preview: live.preview.clone(),
        }
    }
}

impl Live {
    /// Running time: zero while queued, up to `now` while running, frozen once finished.
    pub(crate) fn elapsed(&self, now: Instant) -> Duration {
        match (self.started_at, self.finished_at) {
            (Some(started), Some(finished)) => finished.saturating_duration_since(started),
            (Some(started), None) => now.saturating_duration_since(started),
            (None, _) => Duration::ZERO,
        }
    }

    /// Appends lines, dropping the oldest beyond [`LOG_CAPACITY`] (`skipped` lines were
    /// dropped before they got here).
    pub(crate) fn push_log(&mut self, LogLines { lines, skipped }: LogLines) {
        self.log_dropped = self.log_dropped.saturating_add(skipped);
        for line in lines {
            if self.log.len() == LOG_CAPACITY {
                self.log.pop_front();
                self.log_dropped = self.log_dropped.saturating_add(1);
            }
            self.log.push_back(line);
        }
    }
}

/// Time left at a constant rate: `elapsed / progress × (1 − progress)`, once the job has run
/// long enough and far enough for the rate to mean something.
pub(crate) fn eta(elapsed: Duration, progress: f32) -> Option<Duration> {
    // NaN is never stored, but would also give None here.
    let started = progress > ETA_MIN_PROGRESS && progress < 1.0;
    if !started || elapsed < ETA_MIN_ELAPSED {
        return None;
    }
    let done = f64::from(progress);
    Duration::try_from_secs_f64(elapsed.as_secs_f64() * (1.0 - done) / done).ok()
}

/// Cuts `text` to at most [`MAX_LINE_BYTES`] bytes at a character boundary, marking the cut.
pub(crate) fn bounded(mut text: String) -> String {
    if text.len() > MAX_LINE_BYTES {
        let mut end = MAX_LINE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// A log message split into lines, of which only the last [`LOG_CAPACITY`] are kept.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LogLines {
    pub(crate) lines: Vec<String>,
    pub(crate) skipped: usize,
}

/// Splits a log message into lines (a multi-line message is several log lines), each bounded.
/// Only the lines the log could keep are copied: logging a whole file costs one pass over it.
pub(crate) fn log_lines(text: String) -> LogLines {
    if !text.contains('\n') {
        return LogLines {
            lines: vec![bounded(text)],
            skipped: 0,
        };
    }
    let total = text.lines().count();
    let skipped = total.saturating_sub(LOG_CAPACITY);
    let lines = text
        .lines()
        .skip(skipped)
        .map(|line| bounded(line.trim_end_matches('\r').to_owned()))
        .collect();
    LogLines { lines, skipped }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_waits_for_enough_progress_and_time() {
        let second = Duration::from_secs(1);
        assert_eq!(eta(second, 0.0), None);
        assert_eq!(eta(second, 0.01), None);
        assert_eq!(eta(Duration::from_millis(100), 0.5), None);
        assert_eq!(eta(second, 1.0), None);
        assert_eq!(eta(second, f32::NAN), None);
        assert_eq!(eta(second, 0.5), Some(second));
        assert_eq!(eta(second, 0.25), Some(Duration::from_secs(3)));
        // Past what a Duration holds: no ETA rather than a panic.
        assert_eq!(eta(Duration::MAX, 0.03), None);
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_LINE_BYTES); // two bytes each
        let cut = bounded(long);
        assert!(cut.len() <= MAX_LINE_BYTES + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("short".into()), "short");
    }

    #[test]
    fn multi_line_messages_become_several_lines() {
        let lines = |text: &str| log_lines(text.to_owned()).lines;
        assert_eq!(lines("one"), vec!["one"]);
        assert_eq!(lines("a\r\nb\n"), vec!["a", "b"]);
        assert_eq!(lines(""), vec![""]);
        let many = (0..LOG_CAPACITY + 3)
            .map(|i| format!("{i}\n"))
            .collect::<String>();
        let kept = log_lines(many);
        assert_eq!(kept.skipped, 3);
        assert_eq!(kept.lines.len(), LOG_CAPACITY);
        assert_eq!(kept.lines[0], "3");
    }

    #[test]
    fn the_log_keeps_its_last_lines_and_counts_the_rest() {
        let spec = JobSpec::new(JobKind::Other, "log");
        let cell = JobCell::new(JobId::new(1), spec, CancelToken::new(), Instant::now());
        let mut live = lock(&cell.live);
        live.push_log(LogLines {
            lines: (0..LOG_CAPACITY + 7).map(|i| i.to_string()).collect(),
            skipped: 2,
        });
        assert_eq!(live.log.len(), LOG_CAPACITY);
        assert_eq!(live.log_dropped, 9);
        assert_eq!(live.log.front().map(String::as_str), Some("7"));
    }
}
