//! Crash test in the style of sled's: a child process edits, stores rushes, autosaves and saves
//! a project in a loop; the parent kills it with SIGKILL at random moments, then checks that
//! the project opens, is sound, holds exactly the first M edits for some M at least as large as
//! the last edit the child reported durable (and no larger than the last one it started), and
//! that `fsck` finds it clean (every registered asset whole, the project file readable).
//!
//! The child is this same test binary, re-executed with `PREVIZ_CRASH_CHILD_DIR` set, running
//! only the `crash_child` test. Environment knobs:
//!
//! * `PREVIZ_CRASH_KILLS`: how many kills (default 200);
//! * `PREVIZ_CRASH_SEED`: the RNG seed (default: from the clock; always printed).

#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use jiff::Timestamp;
use previz_core::shot::{Asset, AssetKind, MediaInfo};
use previz_core::{EditCommand, Extra, Project};
use previz_storage::{OpenMode, Session, SessionOptions, StorageError};

const CHILD_DIR: &str = "PREVIZ_CRASH_CHILD_DIR";
const CHILD_START: &str = "PREVIZ_CRASH_CHILD_START";

/// What edit `n` does to the document, as one command (the child gets there in several
/// session calls for some `n`, to exercise groups, coalescing, undo and redo).
fn net_edit(ids: Ids, n: u64) -> EditCommand {
    match n % 6 {
        0 => EditCommand::Batch {
            label: format!("Shot and rush {n}"),
            commands: vec![
                add_shot(ids, n),
                EditCommand::RegisterAsset {
                    asset: Box::new(rush(n).1),
                },
            ],
        },
        1 => notes(ids, &format!("edit {n}")),
        2 => insert_clip(ids, n),
        3 | 4 => subject(ids, &format!("edit {n}")),
        _ => EditCommand::Batch {
            label: format!("Batch {n}"),
            commands: vec![
                rename_clip(n - 3, &format!("edit {n}")),
                notes(ids, &format!("batch {n}")),
            ],
        },
    }
}

/// The bytes and the asset record of the rush edit `n` registers (every sixth edit); the child
/// stores the bytes before it registers them, so `fsck` finds every registered asset whole.
fn rush(n: u64) -> (Vec<u8>, Asset) {
    let bytes: Vec<u8> = (0..(64 << 10) + n)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8 ^ n as u8)
        .collect();
    let asset = Asset {
        hash: previz_storage::hash_bytes(&bytes),
        kind: AssetKind::Audio,
        media: MediaInfo {
            mime: "audio/wav".into(),
            bytes: bytes.len() as u64,
            ..MediaInfo::default()
        },
        extra: Extra::new(),
    };
    (bytes, asset)
}

/// Performs edit `n` through the session. Every prefix of the journal records one edit writes
/// leaves the document at edit `n` or `n - 1`, so "edits 1..=M" is well defined even when a
/// kill tears a journal write in the middle.
fn child_edit(session: &mut Session, ids: Ids, n: u64) -> Result<(), StorageError> {
    let command = net_edit(ids, n);
    match n % 6 {
        0 => {
            session
                .assets()
                .put(&rush(n).0)
                .map_err(|e| StorageError::Io {
                    action: "store a rush",
                    path: PathBuf::from("assets"),
                    access: previz_storage::Access::Write,
                    source: std::io::Error::other(e.to_string()),
                })?;
            session.apply(&command)?;
            session.undo()?;
            session.redo()?;
        }
        2 => {
            session.begin_group("Insert");
            session.apply(&command)?;
            session.end_group();
        }
        3 => {
            session.apply_coalescing(&command, "subject")?;
        }
        4 => {
            session.apply_coalescing(&command, "subject")?;
            session.seal();
        }
        _ => {
            session.apply(&command)?;
        }
    }
    Ok(())
}

fn child_options() -> SessionOptions {
    SessionOptions {
        autosave_interval: Duration::ZERO,
        heartbeat_interval: Duration::from_millis(10),
        ..SessionOptions::default()
    }
}

fn child_loop(dir: &Path, start: u64) -> Result<(), StorageError> {
    let (mut session, _) = Session::open_with(dir, OpenMode::ReadWrite, child_options())?;
    let ids = ids(session.project());
    let began = Instant::now();
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| {
        // The parent reads these; if the pipe is gone the parent is gone too.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    // Every other save runs in the background (as the studio saves) while edits go on.
    let mut background: Option<
        std::thread::JoinHandle<Result<previz_storage::SaveWritten, StorageError>>,
    > = None;
    for n in start + 1.. {
        say(format!("started {n}"));
        child_edit(&mut session, ids, n)?;
        if session.tick(Timestamp::now())?.journal_flushed > 0 {
            say(format!("durable {n}"));
        }
        if n % 7 == 0 && background.is_none() {
            if n % 14 == 0 {
                let job = session.begin_save()?;
                background = Some(std::thread::spawn(move || job.run()));
            } else {
                session.save()?;
                say(format!("durable {n}"));
            }
        }
        if background
            .as_ref()
            .is_some_and(std::thread::JoinHandle::is_finished)
            && let Some(handle) = background.take()
        {
            let written = handle.join().unwrap_or_else(|_| {
                Err(StorageError::SaveInProgress {
                    project: dir.to_path_buf(),
                })
            });
            // The journal that follows the save holds every edit made since: all durable.
            if session.finish_save(written)?.warnings.is_empty() {
                say(format!("durable {n}"));
            }
        }
        // A safety net: the parent kills long before this.
        if began.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    Ok(())
}

/// The child's entry point; does nothing in an ordinary test run.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let start = std::env::var(CHILD_START)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if let Err(e) = child_loop(Path::new(&dir), start) {
        eprintln!("child failed: {e}");
        std::process::exit(3);
    }
}

/// SplitMix64: small, seedable, good enough to pick sleep times.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// The last number on a `<word> N` line of the child's output.
fn last(output: &str, word: &str) -> Option<u64> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix(word)?.trim().parse().ok())
        .next_back()
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    [dir.to_path_buf(), dir.join("backups")]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".tmp-"))
        })
        .collect()
}

#[derive(Debug, Default)]
struct Stats {
    kills: usize,
    recovered_from_journal: usize,
    stale_journals: usize,
    torn_tails: usize,
    temps_removed: usize,
    stale_locks: usize,
    edits_lost_max: u64,
    edits_lost_total: u64,
    fsck_checked: usize,
}

#[test]
fn random_kills_never_lose_durable_edits() {
    if std::env::var_os(CHILD_DIR).is_some() {
        return;
    }
    let kills: usize = std::env::var("PREVIZ_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("PREVIZ_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Timestamp::now().as_nanosecond().unsigned_abs() as u64);
    eprintln!("crash test: {kills} kills, seed {seed} (PREVIZ_CRASH_SEED={seed} repeats it)");
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("crash.previz");
    Session::create(&dir, base_project())
        .unwrap()
        .close()
        .unwrap();
    let (session, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    let mut expected: Project = session.project().clone();
    let ids = ids(&expected);
    drop(session);

    let began = Instant::now();
    let mut verified = 0u64;
    let mut stats = Stats::default();
    for round in 0..kills {
        let context = |what: &str| format!("seed {seed}, round {round}: {what}");
        let mut child = Command::new(&exe)
            .args([
                "crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(CHILD_DIR, &dir)
            .env(CHILD_START, verified.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.between(5, 80)));
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!(
                "{}",
                context(&format!("the child exited by itself ({status}): {err}"))
            );
        }
        child.kill().unwrap();
        child.wait().unwrap();
        stats.kills += 1;
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let durable = last(&out, "durable ").unwrap_or(verified).max(verified);
        let started = last(&out, "started ").unwrap_or(verified).max(verified);

        // The dead child's lock must be recognised as stale, then taken over explicitly.
        if dir.join("project.lock").exists() {
            match Session::open(&dir, OpenMode::ReadWrite) {
                Err(StorageError::Locked { staleness, .. }) => {
                    assert!(staleness.stale, "{}", context(&staleness.to_string()));
                    stats.stale_locks += 1;
                }
                Err(other) => panic!("{}", context(&other.to_string())),
                Ok(_) => panic!("{}", context("a killed child's lock was not there")),
            }
        }
        let (session, report) = Session::open(&dir, OpenMode::TakeOver)
            .unwrap_or_else(|e| panic!("{}", context(&format!("the project did not open: {e}"))));
        let problems = session.project().validate();
        assert!(problems.is_empty(), "{}", context(&format!("{problems:?}")));
        assert!(
            temp_files(&dir).is_empty(),
            "{}",
            context("temp files survived open")
        );
        // Whatever the kill interrupted (an edit, an asset write, a save), fsck finds every
        // asset the project names whole and the project file readable.
        let fsck = previz_storage::fsck(&dir, false, &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{}", context(&format!("fsck failed: {e}"))));
        assert!(fsck.is_clean(), "{}", context(&format!("fsck: {fsck:?}")));
        stats.fsck_checked += fsck.checked;

        // Find M: the recovered document must be exactly edits 1..=M.
        let mut candidate = expected.clone();
        let mut m = verified;
        while &candidate != session.project() && m < started {
            m += 1;
            candidate.apply(&net_edit(ids, m)).unwrap();
        }
        assert_eq!(
            &candidate,
            session.project(),
            "{}",
            context(&format!(
                "the recovered project is not 'edits 1..=M' for any M in {verified}..={started} (durable {durable}); {:?}",
                report.messages()
            ))
        );
        assert!(
            m >= durable,
            "{}",
            context(&format!(
                "durable edit {durable} was lost: recovered only {m}"
            ))
        );
        stats.recovered_from_journal += usize::from(report.recovered.is_some());
        stats.stale_journals += report
            .set_aside
            .iter()
            .filter(|a| matches!(a.reason, previz_storage::AsideReason::Stale))
            .count();
        assert!(
            report
                .set_aside
                .iter()
                .all(|a| matches!(a.reason, previz_storage::AsideReason::Stale)),
            "{}",
            context(&format!("{:?}", report.messages()))
        );
        stats.torn_tails += report.warnings.len();
        stats.temps_removed += report.removed_temp_files.len();
        stats.edits_lost_max = stats.edits_lost_max.max(started - m);
        stats.edits_lost_total += started - m;
        expected = candidate;
        verified = m;
        session.close().unwrap();
    }
    eprintln!(
        "crash test: {} kills in {:.1} s, {verified} edits survived; recovered from the journal {} times, stale journals set aside {}, torn tails {}, temp files swept {}, stale locks taken over {}; edits lost per kill (started but not yet durable): max {}, total {}; fsck clean after every kill ({} asset checks)",
        stats.kills,
        began.elapsed().as_secs_f64(),
        stats.recovered_from_journal,
        stats.stale_journals,
        stats.torn_tails,
        stats.temps_removed,
        stats.stale_locks,
        stats.edits_lost_max,
        stats.edits_lost_total,
        stats.fsck_checked
    );
    assert!(
        stats.fsck_checked > 0,
        "the rushes registered along the way were checked"
    );
    assert!(
        verified > 0,
        "seed {seed}: the children never got an edit done"
    );
}
