//! Background saves: the disk work runs on another thread while editing goes on, and a crash
//! at any point loses nothing and applies nothing twice.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use previz_core::Project;
use previz_storage::{OpenMode, Session, StorageError};

fn new_project(root: &Path) -> PathBuf {
    let dir = root.join("film.previz");
    Session::create(&dir, base_project())
        .unwrap()
        .close()
        .unwrap();
    dir
}

fn shots(project: &Project) -> Vec<u128> {
    project.shots.iter().map(|s| s.id.0.as_u128()).collect()
}

/// Simulates a crash: the process dies without dropping (no final journal flush, lock left).
#[allow(clippy::mem_forget)] // leaking is the point: a killed process runs no destructor
fn crash(session: Session) {
    std::mem::forget(session);
}

#[test]
fn edits_made_during_a_background_save_land_in_the_next_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_project(tmp.path());
    let (mut s, _) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    let ids = ids(s.project());
    s.apply(&add_shot(ids, 1)).unwrap();
    let job = s.begin_save().unwrap();
    assert!(s.save_in_progress());
    s.apply(&add_shot(ids, 2)).unwrap();
    let written = std::thread::spawn(move || job.run()).join().unwrap();
    let report = s.finish_save(written).unwrap();
    assert!(report.bytes > 0);
    assert!(
        s.is_dirty(),
        "the edit made during the save is not in the file yet"
    );
    assert!(!dir.join("save.marker").exists());
    let expected = s.project().clone();
    s.close().unwrap();
    let (s, report) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    assert_eq!(
        report.recovered.map(|r| r.edits),
        Some(1),
        "only the edit after the snapshot is replayed"
    );
    assert_eq!(s.project(), &expected);
}

#[test]
fn a_crash_after_the_commit_replays_only_what_the_snapshot_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_project(tmp.path());
    let (mut s, _) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    let ids = ids(s.project());
    s.apply(&add_shot(ids, 1)).unwrap();
    s.flush().unwrap();
    let job = s.begin_save().unwrap();
    s.apply(&add_shot(ids, 2)).unwrap();
    s.flush().unwrap();
    job.run().unwrap();
    let expected = shots(s.project());
    // The process dies before finish_save: the file is the snapshot (shot 1), the journal still
    // names the old file and holds shots 1 and 2, the marker says which part is new.
    crash(s);
    assert!(dir.join("save.marker").exists());
    let (s, report) = Session::open(&dir, OpenMode::TakeOver).unwrap();
    assert!(report.set_aside.is_empty(), "{:?}", report.set_aside);
    assert_eq!(report.recovered.map(|r| r.edits), Some(1));
    assert_eq!(
        shots(s.project()),
        expected,
        "shot 1 once (from the file), shot 2 once (replayed)"
    );
    assert!(!dir.join("save.marker").exists());
    s.close().unwrap();
    // And again: the journal now names the new file, nothing is replayed twice.
    let (s, _) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    assert_eq!(shots(s.project()), expected);
}

#[test]
fn a_crash_before_the_commit_keeps_the_old_file_and_the_whole_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_project(tmp.path());
    let (mut s, _) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    let ids = ids(s.project());
    s.apply(&add_shot(ids, 1)).unwrap();
    s.apply(&add_shot(ids, 2)).unwrap();
    s.flush().unwrap();
    let expected = shots(s.project());
    // The marker was written, then the process died before the rename.
    let old = format!(
        "blake3:{}",
        blake3::hash(&fs::read(dir.join("project.json")).unwrap()).to_hex()
    );
    let marker = format!(
        r#"{{"from":"{old}","to":"blake3:{}","through":1}}"#,
        "0".repeat(64)
    );
    fs::write(dir.join("save.marker"), marker).unwrap();
    crash(s);
    let (s, report) = Session::open(&dir, OpenMode::TakeOver).unwrap();
    assert_eq!(report.recovered.map(|r| r.edits), Some(2));
    assert_eq!(shots(s.project()), expected);
    assert!(
        !dir.join("save.marker").exists(),
        "a marker that does not apply is removed"
    );
}

#[test]
fn a_failed_background_save_changes_nothing_and_save_as_rescues_the_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_project(tmp.path());
    let (mut s, _) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    let ids = ids(s.project());
    s.apply(&add_shot(ids, 1)).unwrap();
    let job = s.begin_save().unwrap();
    s.apply(&add_shot(ids, 2)).unwrap();
    // The share goes away under the save.
    fs::remove_dir_all(&dir).unwrap();
    let err = s.finish_save(job.run()).unwrap_err();
    assert!(err.to_string().contains("film.previz"), "{err}");
    assert!(!s.save_in_progress());
    assert!(s.is_dirty());
    let expected = shots(s.project());
    let rescue = tmp.path().join("rescue.previz");
    s.save_as(&rescue).unwrap();
    s.close().unwrap();
    let (s, _) = Session::open(&rescue, OpenMode::ReadWrite).unwrap();
    assert_eq!(shots(s.project()), expected);
}

#[test]
fn one_save_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_project(tmp.path());
    let (mut s, _) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    let job = s.begin_save().unwrap();
    assert!(matches!(
        s.begin_save(),
        Err(StorageError::SaveInProgress { .. })
    ));
    assert!(matches!(s.save(), Err(StorageError::SaveInProgress { .. })));
    s.finish_save(job.run()).unwrap();
    s.save().unwrap();
    let (mut ro, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    assert!(matches!(
        ro.begin_save(),
        Err(StorageError::ReadOnly { .. })
    ));
}
