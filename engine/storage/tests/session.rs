//! Session behaviour: recovery, stale and damaged journals, locks, read-only, vanished shares.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use jiff::{SignedDuration, Timestamp};
use previz_core::{History, Project};
use previz_storage::journal::{self, JournalRecord, RecordKind};
use previz_storage::layout::ProjectPaths;
use previz_storage::{
    AsideReason, LockInfo, OpenMode, Session, SessionOptions, StorageError, list_backups,
};

fn later(seconds: i64) -> Timestamp {
    Timestamp::now()
        .checked_add(SignedDuration::from_secs(seconds))
        .unwrap()
}

/// A project folder with a fresh base project, closed.
fn new_project(root: &Path) -> (PathBuf, Project) {
    let dir = root.join("film.previz");
    let session = Session::create(&dir, base_project()).unwrap();
    let project = session.project().clone();
    session.close().unwrap();
    (dir, project)
}

fn open(dir: &Path) -> (Session, previz_storage::OpenReport) {
    Session::open(dir, OpenMode::ReadWrite).unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn create_save_open_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, base) = new_project(tmp.path());
    assert_eq!(
        names_in(&dir),
        ["assets", "backups", "journal.jsonl", "project.json"]
    );
    let (mut session, report) = open(&dir);
    assert_eq!(report.messages(), Vec::<String>::new());
    assert_eq!(session.project(), &base);
    assert!(!session.is_dirty());
    assert!(session.lock_info().is_some());
    let ids = ids(session.project());
    session.apply(&notes(ids, "hello")).unwrap();
    assert!(session.is_dirty());
    let saved = session.save().unwrap();
    assert!(!session.is_dirty());
    assert!(saved.warnings.is_empty(), "{:?}", saved.warnings);
    let edited = session.project().clone();
    session.close().unwrap();
    assert!(!dir.join("project.lock").exists());

    let (session, report) = open(&dir);
    assert_eq!(session.project(), &edited);
    assert!(report.recovered.is_none());
    assert!(!session.is_dirty());
    assert_eq!(list_backups(&dir).unwrap().len(), 2);
}

#[test]
fn create_refuses_an_existing_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = new_project(tmp.path());
    let err = Session::create(&dir, base_project()).unwrap_err();
    assert!(matches!(err, StorageError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn closing_without_saving_keeps_edits_for_the_next_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, base) = new_project(tmp.path());
    let (mut session, _) = open(&dir);
    let ids = ids(session.project());
    session.apply(&add_shot(ids, 1)).unwrap();
    session.apply(&notes(ids, "one")).unwrap();
    // Typing: two keystrokes, one undo step.
    session
        .apply_coalescing(&subject(ids, "Ma"), "subject")
        .unwrap();
    session
        .apply_coalescing(&subject(ids, "Mara"), "subject")
        .unwrap();
    session.seal();
    // A group: insert and name a clip as one step.
    session.begin_group("Insert and name");
    session.apply(&insert_clip(ids, 1)).unwrap();
    session.apply(&rename_clip(1, "opening")).unwrap();
    session.end_group();
    session.undo().unwrap();
    session.redo().unwrap();
    session.undo().unwrap();
    let expected = session.project().clone();
    let steps = session.history().len();
    // What undo would do next, worked out on copies.
    let mut after_undo = expected.clone();
    let mut history: History = session.history().clone();
    history.undo(&mut after_undo).unwrap();
    session.close().unwrap();

    let (mut session, report) = open(&dir);
    assert_eq!(session.project(), &expected);
    assert_ne!(session.project(), &base);
    assert!(session.is_dirty());
    let recovered = report.recovered.clone().unwrap();
    assert_eq!(recovered.edits, 9);
    assert!(report.messages()[0].contains("recovered 9 unsaved edit"));
    assert_eq!(session.history().len(), steps);
    assert!(session.history().can_redo());
    session.undo().unwrap();
    assert_eq!(session.project(), &after_undo);
}

#[test]
fn dropping_a_session_still_flushes_its_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = new_project(tmp.path());
    let expected = {
        let (mut session, _) = open(&dir);
        let ids = ids(session.project());
        session.apply(&notes(ids, "dropped")).unwrap();
        session.project().clone()
    };
    let (session, report) = open(&dir);
    assert_eq!(session.project(), &expected);
    assert_eq!(report.recovered.unwrap().edits, 1);
}

#[test]
fn autosave_waits_for_its_interval_then_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = new_project(tmp.path());
    let (mut session, _) = open(&dir);
    let ids = ids(session.project());
    session.apply(&notes(ids, "x")).unwrap();
    assert_eq!(session.pending_edits(), 1);
    assert_eq!(session.tick(later(1)).unwrap().journal_flushed, 0);
    let report = session.tick(later(6)).unwrap();
    assert_eq!(report.journal_flushed, 1);
    assert!(!report.heartbeat);
    assert_eq!(session.pending_edits(), 0);
    let read = journal::read_journal(&fs::read(dir.join("journal.jsonl")).unwrap()).unwrap();
    assert_eq!(read.records.len(), 1);
    // A minute on, the heartbeat is refreshed in the lock file.
    let report = session.tick(later(61)).unwrap();
    assert!(report.heartbeat);
    let lock: LockInfo =
        serde_json::from_slice(&fs::read(dir.join("project.lock")).unwrap()).unwrap();
    assert_eq!(lock.heartbeat, session.lock_info().unwrap().heartbeat);
    assert!(lock.heartbeat > lock.started);
}

/// A project folder whose journal holds three notes edits ("one", "two", "three"), closed;
/// returns the folder, the journal bytes and the project after each edit.
fn three_edits(root: &Path) -> (PathBuf, Vec<u8>, Vec<Project>) {
    let (dir, base) = new_project(root);
    let (mut session, _) = open(&dir);
    let ids = ids(session.project());
    let mut states = vec![base];
    for text in ["one", "two", "three"] {
        session.apply(&notes(ids, text)).unwrap();
        states.push(session.project().clone());
    }
    session.close().unwrap();
    let bytes = fs::read(dir.join("journal.jsonl")).unwrap();
    (dir, bytes, states)
}

#[test]
fn a_journal_torn_at_any_byte_of_its_last_record_recovers_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, full, states) = three_edits(tmp.path());
    let last_line_start = full[..full.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    for cut in last_line_start..full.len() {
        fs::write(dir.join("journal.jsonl"), &full[..cut]).unwrap();
        let (session, report) = open(&dir);
        assert_eq!(session.project(), &states[2], "cut at {cut}");
        assert_eq!(report.recovered.as_ref().unwrap().edits, 2);
        if cut > last_line_start {
            assert!(
                report.warnings.iter().any(|w| w.contains("line 4")),
                "cut at {cut}: {:?}",
                report.messages()
            );
        }
        // Only an unfinished line was lost: nothing to keep aside, and the journal is clean
        // again for the appends that follow.
        assert!(report.set_aside.is_empty());
        session.close().unwrap();
        let read = journal::read_journal(&fs::read(dir.join("journal.jsonl")).unwrap()).unwrap();
        assert_eq!(read.records.len(), 2);
        assert!(read.tail.is_none());
    }
    fs::write(dir.join("journal.jsonl"), &full).unwrap();
    let (session, _) = open(&dir);
    assert_eq!(session.project(), &states[3]);
}

#[test]
fn a_corrupted_record_stops_recovery_there_and_the_journal_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, mut bytes, states) = three_edits(tmp.path());
    // Damage record 2 (line 3): change "two" to "twx" without fixing the checksum.
    let at = bytes.windows(5).position(|w| w == b"\"two\"").unwrap() + 3;
    bytes[at] = b'x';
    fs::write(dir.join("journal.jsonl"), &bytes).unwrap();
    let (mut session, report) = open(&dir);
    assert_eq!(session.project(), &states[1]);
    assert_eq!(report.recovered.as_ref().unwrap().edits, 1);
    assert_eq!(report.set_aside.len(), 1);
    let aside = &report.set_aside[0];
    assert!(matches!(&aside.reason, AsideReason::Damaged(t) if t.line == 3));
    let kept = aside.path.clone().unwrap();
    assert_eq!(
        fs::read(&kept).unwrap(),
        bytes,
        "the damaged journal is kept as it was"
    );
    assert!(
        report
            .messages()
            .iter()
            .any(|m| m.contains("line 3") && m.contains("checksum")),
        "{:?}",
        report.messages()
    );
    // The session continues with the recovered edit journaled afresh.
    let ids = ids(session.project());
    session.apply(&notes(ids, "four")).unwrap();
    let expected = session.project().clone();
    session.close().unwrap();
    let (session, report) = open(&dir);
    assert_eq!(session.project(), &expected);
    assert_eq!(report.recovered.unwrap().edits, 2);
    assert!(kept.exists());
}

#[test]
fn a_record_that_will_not_apply_is_reported_and_kept_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bytes, states) = three_edits(tmp.path());
    // Append a well-formed record that removes a shot the project does not have.
    let record = JournalRecord {
        seq: 4,
        kind: RecordKind::Apply,
        label: "Remove shot".to_owned(),
        at: Timestamp::now(),
        merge: false,
        changes: vec![previz_core::Change::RemoveShot {
            shot: previz_core::ShotId::from_u128(999),
        }],
    };
    let mut damaged = bytes.clone();
    damaged.extend(journal::encode_record(&record).unwrap());
    fs::write(dir.join("journal.jsonl"), &damaged).unwrap();
    let (session, report) = open(&dir);
    assert_eq!(session.project(), &states[3]);
    let aside = &report.set_aside[0];
    assert!(matches!(&aside.reason, AsideReason::ReplayFailed(f) if f.seq == 4));
    assert_eq!(fs::read(aside.path.as_ref().unwrap()).unwrap(), damaged);
    assert!(
        report.messages()[1].contains("could not be re-applied"),
        "{:?}",
        report.messages()
    );
}

#[test]
fn a_journal_from_before_a_completed_save_is_set_aside_not_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, old_journal, states) = three_edits(tmp.path());
    let (mut session, _) = open(&dir);
    session.save().unwrap();
    session.close().unwrap();
    // The old journal comes back (as if the fresh one was never written).
    fs::write(dir.join("journal.jsonl"), &old_journal).unwrap();
    let (session, report) = open(&dir);
    assert_eq!(session.project(), &states[3]);
    assert!(!session.is_dirty());
    assert!(report.recovered.is_none());
    assert!(matches!(report.set_aside[0].reason, AsideReason::Stale));
    assert!(report.messages()[0].contains("already saved"));
}

#[test]
fn a_crash_between_the_rename_and_the_new_journal_loses_and_repeats_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _, states) = three_edits(tmp.path());
    // The state a crash right after step 3 of save leaves: new project.json, old journal.
    fs::write(
        dir.join("project.json"),
        previz_core::format::to_json(&states[3]),
    )
    .unwrap();
    let (session, report) = open(&dir);
    assert_eq!(session.project(), &states[3]);
    assert!(
        report.recovered.is_none(),
        "edits already saved must not apply twice"
    );
    assert!(matches!(report.set_aside[0].reason, AsideReason::Stale));
}

#[test]
fn a_crash_before_the_rename_leaves_a_temp_that_open_sweeps() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _, states) = three_edits(tmp.path());
    // A half-written temp of a save by a writer that died (same host, pid gone).
    let host = previz_storage::host::host_tag(&previz_storage::host::host_name());
    let temp = dir.join(format!(
        ".project.json.tmp-{host}-{}-0badc0de",
        u32::MAX - 7
    ));
    fs::write(&temp, b"{\"schema\": \"previz.pro").unwrap();
    let (session, report) = open(&dir);
    assert_eq!(session.project(), &states[3]);
    if cfg!(target_os = "linux") {
        assert_eq!(report.removed_temp_files, vec![temp.clone()]);
        assert!(!temp.exists());
    }
}

fn fake_lock(dir: &Path, pid: u32, host: &str, heartbeat: Timestamp) -> LockInfo {
    let mut info = LockInfo::for_this_process("Previz 0.0.9", heartbeat);
    info.pid = pid;
    info.host = host.to_owned();
    info.user = "alice".to_owned();
    fs::write(
        dir.join("project.lock"),
        serde_json::to_vec_pretty(&info).unwrap(),
    )
    .unwrap();
    info
}

#[cfg(unix)]
#[test]
fn a_lock_held_by_a_live_process_refuses_writing_and_says_who() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, base) = new_project(tmp.path());
    let here = previz_storage::host::host_name();
    // Our parent (the test runner) is alive for the whole test.
    let holder = fake_lock(
        &dir,
        std::os::unix::process::parent_id(),
        &here,
        Timestamp::now(),
    );
    let err = Session::open(&dir, OpenMode::ReadWrite).unwrap_err();
    let text = err.to_string();
    match &err {
        StorageError::Locked {
            holder: h,
            staleness,
            ..
        } => {
            assert_eq!(h.as_deref(), Some(&holder));
            if cfg!(target_os = "linux") {
                assert!(!staleness.stale, "{staleness}");
            }
        }
        other => panic!("{other}"),
    }
    assert!(text.contains("alice") && text.contains(&here), "{text}");
    assert!(text.contains(&format!("pid {}", holder.pid)), "{text}");
    assert!(text.contains("read-only"), "{text}");

    // Read-only works, and writes nothing at all.
    let before = names_in(&dir);
    let (mut session, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    assert!(session.read_only());
    assert_eq!(session.project(), &base);
    let ids = ids(session.project());
    let err = session.apply(&notes(ids, "nope")).unwrap_err();
    assert!(matches!(err, StorageError::ReadOnly { .. }), "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(session.save().unwrap_err().to_string().contains("Save As"));
    assert_eq!(session.project(), &base);
    session.close().unwrap();
    assert_eq!(names_in(&dir), before);
    assert_eq!(
        serde_json::from_slice::<LockInfo>(&fs::read(dir.join("project.lock")).unwrap()).unwrap(),
        holder,
        "a read-only session leaves the lock alone"
    );

    // Taking over is explicit, and records whom it replaced.
    let (session, report) = Session::open(&dir, OpenMode::TakeOver).unwrap();
    let (previous, _) = report.took_over_from.clone().unwrap();
    assert_eq!(previous, holder);
    let ours = session.lock_info().unwrap();
    assert_eq!(ours.previous.as_deref(), Some(&holder));
    assert!(
        report
            .messages()
            .iter()
            .any(|m| m.contains("took the project over from alice"))
    );
    session.close().unwrap();
    assert!(!dir.join("project.lock").exists());
}

#[test]
fn lock_staleness_by_dead_pid_here_and_by_heartbeat_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = new_project(tmp.path());
    let here = previz_storage::host::host_name();
    let cases = [
        (
            u32::MAX - 7,
            here.as_str(),
            Timestamp::now(),
            cfg!(target_os = "linux"),
        ),
        (42, "render-node-7", Timestamp::now(), false),
        (42, "render-node-7", later(-3600), true),
    ];
    for (pid, host, heartbeat, stale) in cases {
        fake_lock(&dir, pid, host, heartbeat);
        match Session::open(&dir, OpenMode::ReadWrite).unwrap_err() {
            StorageError::Locked { staleness, .. } => {
                assert_eq!(staleness.stale, stale, "{host} {pid}: {staleness}");
            }
            other => panic!("{other}"),
        }
    }
    // Garbage in the lock file is reported, not trusted or overwritten.
    fs::write(dir.join("project.lock"), b"\0\0").unwrap();
    let err = Session::open(&dir, OpenMode::ReadWrite).unwrap_err();
    assert!(err.to_string().contains("cannot be read"), "{err}");
    assert_eq!(fs::read(dir.join("project.lock")).unwrap(), b"\0\0");
}

#[test]
fn a_session_that_was_taken_over_turns_read_only_instead_of_fighting() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = new_project(tmp.path());
    let (mut first, _) = open(&dir);
    let ids = ids(first.project());
    first.apply(&notes(ids, "first")).unwrap();
    first.flush().unwrap();
    first.apply(&notes(ids, "not yet autosaved")).unwrap();

    let (mut second, report) = Session::open(&dir, OpenMode::TakeOver).unwrap();
    assert_eq!(report.recovered.unwrap().edits, 1);
    let (previous, staleness) = report.took_over_from.unwrap();
    assert!(&previous.same_session(first.lock_info().unwrap()));
    assert!(!staleness.stale, "{staleness}");
    second.apply(&notes(ids, "second")).unwrap();
    second.flush().unwrap();

    // The first session notices at its next heartbeat...
    let tick = first.tick(later(61)).unwrap();
    assert!(
        tick.lost_lock
            .unwrap()
            .same_session(second.lock_info().unwrap())
    );
    assert!(tick.warnings[0].contains("Save As"), "{:?}", tick.warnings);
    assert!(first.read_only());
    assert!(matches!(
        first.apply(&notes(ids, "more")).unwrap_err(),
        StorageError::ReadOnly { .. }
    ));
    // ...and its edits can still go somewhere else.
    let elsewhere = tmp.path().join("fork.previz");
    first.save_as(&elsewhere).unwrap();
    assert!(!first.read_only());
    let forked = first.project().clone();
    first.close().unwrap();

    // The second session's work is untouched by the first.
    let expected = second.project().clone();
    second.close().unwrap();
    let (session, _) = open(&dir);
    assert_eq!(session.project(), &expected);
    let (session, _) = open(&elsewhere);
    assert_eq!(session.project(), &forked);
}

#[test]
fn save_before_a_heartbeat_also_notices_a_take_over() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = new_project(tmp.path());
    let (mut first, _) = open(&dir);
    let (second, _) = Session::open(&dir, OpenMode::TakeOver).unwrap();
    let ids = ids(first.project());
    first.apply(&notes(ids, "x")).unwrap();
    let err = first.save().unwrap_err();
    assert!(matches!(err, StorageError::LockLost { .. }), "{err}");
    assert!(err.to_string().contains("Save As"), "{err}");
    assert!(first.read_only());
    drop(second);
}

#[test]
fn saving_into_a_vanished_folder_fails_clearly_and_save_as_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    fs::create_dir(&share).unwrap();
    let (dir, _) = new_project(&share);
    let (mut session, _) = open(&dir);
    let ids = ids(session.project());
    for n in 0..5 {
        session.apply(&add_shot(ids, n)).unwrap();
    }
    session
        .apply(&notes(ids, "before the share went away"))
        .unwrap();
    let expected = session.project().clone();

    fs::remove_dir_all(&share).unwrap();
    let err = session.save().unwrap_err();
    let text = err.to_string();
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::NotFound), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
    assert!(text.contains("the folder is gone"), "{text}");
    assert!(text.contains("Save As"), "{text}");
    assert!(session.is_dirty());
    assert_eq!(session.project(), &expected);
    // Autosave fails too, without losing the buffered edits.
    assert!(session.tick(later(10)).is_err());
    assert_eq!(session.pending_edits(), 6);
    // Further edits still work in memory.
    session.apply(&notes(ids, "while it was gone")).unwrap();
    let expected = session.project().clone();

    let rescue = tmp.path().join("local").join("film.previz");
    let report = session.save_as(&rescue).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(!session.is_dirty());
    assert_eq!(session.dir(), rescue.as_path());
    session.apply(&notes(ids, "after the rescue")).unwrap();
    let expected_after = session.project().clone();
    session.close().unwrap();
    let (reopened, report) = open(&rescue);
    assert_eq!(report.recovered.unwrap().edits, 1);
    assert_eq!(reopened.project(), &expected_after);
    assert_ne!(reopened.project(), &expected);
}

#[test]
fn save_as_refuses_an_occupied_folder_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = new_project(tmp.path());
    let (other, _) = new_project(&tmp.path().join("b"));
    let (mut session, _) = open(&dir);
    let ids = ids(session.project());
    session.apply(&notes(ids, "x")).unwrap();
    let err = session.save_as(&other).unwrap_err();
    assert!(matches!(err, StorageError::AlreadyExists { .. }), "{err}");
    assert_eq!(session.dir(), dir.as_path());
    assert!(session.is_dirty());
    session.save().unwrap();
}

#[test]
fn a_damaged_project_file_names_line_column_and_the_backups() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = new_project(tmp.path());
    fs::write(
        dir.join("project.json"),
        b"{\n  \"schema\": \"previz.project\",\n  \"version\": 1,\n  oops\n}",
    )
    .unwrap();
    let err = Session::open(&dir, OpenMode::ReadWrite).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StorageError::Format { .. }));
    assert!(text.contains("project.json:4:3"), "{text}");
    assert!(
        text.contains(&dir.join("backups").display().to_string()),
        "{text}"
    );
    // The failed open let go of the lock.
    assert!(!dir.join("project.lock").exists());

    let err = Session::open(tmp.path(), OpenMode::ReadWrite).unwrap_err();
    assert!(matches!(err, StorageError::NotAProject { .. }), "{err}");
}

#[test]
fn backups_accumulate_are_pruned_and_can_be_restored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("film.previz");
    let options = SessionOptions {
        retention: previz_storage::RetentionPolicy {
            keep_last: 3,
            hourly_hours: 0,
            daily_days: 0,
        },
        ..SessionOptions::default()
    };
    let mut session = Session::create_with(&dir, base_project(), options).unwrap();
    let ids = ids(session.project());
    let mut states = Vec::new();
    for n in 0..5 {
        session.apply(&notes(ids, &format!("save {n}"))).unwrap();
        session.save().unwrap();
        states.push(session.project().clone());
    }
    let backups = list_backups(&dir).unwrap();
    assert_eq!(backups.len(), 3);
    // Saving unchanged content adds no backup.
    let again = session.save().unwrap();
    assert!(matches!(
        again.backup,
        Some(previz_storage::BackedUp::Unchanged(_))
    ));
    assert_eq!(list_backups(&dir).unwrap().len(), 3);
    // Backups are whole projects; the oldest kept one is save 2.
    let oldest = backups.last().unwrap();
    assert_eq!(
        &previz_storage::open_backup(&oldest.path).unwrap(),
        &states[2]
    );

    session.apply(&notes(ids, "unsaved")).unwrap();
    let unsaved = session.project().clone();
    session.restore_backup(&oldest.path).unwrap();
    assert_eq!(session.project(), &states[2]);
    assert!(!session.is_dirty());
    assert!(!session.history().can_undo());
    session.close().unwrap();
    let (session, _) = open(&dir);
    assert_eq!(session.project(), &states[2]);
    // The unsaved work was saved into the backups before the restore.
    let has_unsaved = list_backups(&dir)
        .unwrap()
        .iter()
        .any(|b| previz_storage::open_backup(&b.path).unwrap() == unsaved);
    assert!(has_unsaved);
}

#[test]
fn discarding_changes_keeps_them_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, base) = new_project(tmp.path());
    let (mut session, _) = open(&dir);
    let ids = ids(session.project());
    session.apply(&notes(ids, "regret")).unwrap();
    let kept = session.close_discarding_changes().unwrap().unwrap();
    assert!(
        kept.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("journal.discarded-")
    );
    let read = journal::read_journal(&fs::read(&kept).unwrap()).unwrap();
    assert_eq!(read.records.len(), 1);
    let (session, report) = open(&dir);
    assert_eq!(session.project(), &base);
    assert!(report.recovered.is_none());
}

#[test]
fn paths_match_the_documented_layout() {
    let paths = ProjectPaths::new("/share/film.previz");
    assert_eq!(
        paths.project(),
        Path::new("/share/film.previz/project.json")
    );
    assert_eq!(
        paths.journal(),
        Path::new("/share/film.previz/journal.jsonl")
    );
    assert_eq!(paths.lock(), Path::new("/share/film.previz/project.lock"));
    assert_eq!(paths.backups(), Path::new("/share/film.previz/backups"));
    assert_eq!(paths.assets(), Path::new("/share/film.previz/assets"));
}

#[test]
fn a_journal_removed_behind_the_sessions_back_is_not_written_into_blindly() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = new_project(tmp.path());
    let (mut session, _) = open(&dir);
    let ids = ids(session.project());
    session.apply(&notes(ids, "one")).unwrap();
    session.flush().unwrap();
    fs::remove_file(dir.join("journal.jsonl")).unwrap();
    session.apply(&notes(ids, "two")).unwrap();
    let err = session.flush().unwrap_err();
    assert!(err.to_string().contains("journal.jsonl"), "{err}");
    assert_eq!(session.pending_edits(), 1);
    // Saving puts everything in project.json and starts a new journal.
    session.save().unwrap();
    session.apply(&notes(ids, "three")).unwrap();
    assert_eq!(session.flush().unwrap(), 1);
    let expected = session.project().clone();
    session.close().unwrap();
    let (session, report) = open(&dir);
    assert_eq!(session.project(), &expected);
    assert_eq!(report.recovered.unwrap().edits, 1);
}
