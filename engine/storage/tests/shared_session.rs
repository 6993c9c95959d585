//! A `Session` (what the studio and the CLI edit through) on a shared project folder: two
//! editors in one process, each with its own session, the way two workstations would be.

use std::path::{Path, PathBuf};
use std::time::Duration;

use previz_core::{EditCommand, Project, RationalTime, Scene, SceneHeading, Shot, ShotField};
use previz_core::{SceneId, ShotId};
use previz_storage::{OpenMode, Session, SessionOptions, SharedOptions, StorageError};

struct Fixture {
    tmp: tempfile::TempDir,
    kitchen: SceneId,
    pier: SceneId,
    /// Two shots in the kitchen, one on the pier.
    shots: Vec<ShotId>,
}

impl Fixture {
    fn dir(&self) -> PathBuf {
        self.tmp.path().join("team.previz")
    }

    /// An editor on its own "workstation" (its own journal folder).
    fn editor(&self, name: &str) -> Session {
        let options = SessionOptions {
            shared: SharedOptions {
                journal_dir: Some(self.tmp.path().join(format!("journal-{name}"))),
                lease_ttl: Duration::from_secs(60),
                ..SharedOptions::default()
            },
            lease_refresh: Duration::ZERO,
            ..SessionOptions::default()
        };
        let (session, report) =
            Session::open_with(self.dir(), OpenMode::ReadWrite, options).expect("open shared");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert!(session.is_shared());
        session
    }

    fn stored(&self) -> Project {
        let (s, _) = Session::open(self.dir(), OpenMode::ReadOnly).unwrap();
        s.project().clone()
    }
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = Project::new("Team");
    for heading in ["INT. KITCHEN - DAY", "EXT. PIER - NIGHT"] {
        p.script
            .scenes
            .push(Scene::new(SceneHeading::parse(heading, false)));
    }
    let rate = p.settings.frame_rate;
    let (kitchen, pier) = (p.script.scenes[0].id, p.script.scenes[1].id);
    for scene in [kitchen, kitchen, pier] {
        p.shots.push(Shot::new(scene, RationalTime::new(24, rate)));
    }
    let shots = p.shots.iter().map(|s| s.id).collect();
    let dir = tmp.path().join("team.previz");
    Session::create(&dir, p).unwrap().close().unwrap();
    Session::share(&dir).unwrap();
    assert!(dir.join("project.json.gen").is_dir());
    Fixture {
        tmp,
        kitchen,
        pier,
        shots,
    }
}

fn notes(shot: ShotId, text: &str) -> EditCommand {
    EditCommand::EditShot {
        shot,
        field: ShotField::Notes(text.into()),
    }
}

fn notes_of(p: &Project, shot: ShotId) -> String {
    p.shot(shot).unwrap().notes.clone()
}

#[test]
fn edits_of_different_fields_merge_and_the_same_field_is_a_reported_conflict() {
    let f = fixture();
    let mut anna = f.editor("anna");
    let mut ben = f.editor("ben");
    anna.apply(&notes(f.shots[0], "anna's notes")).unwrap();
    ben.apply(&notes(f.shots[2], "ben's notes")).unwrap();
    let a = anna.save().unwrap();
    assert_eq!(a.shared.as_ref().unwrap().merges, 0);
    let b = ben.save().unwrap();
    let saved = b.shared.unwrap();
    assert_eq!((saved.merges, saved.conflicts.len()), (1, 0));
    // Ben's session now shows Anna's work too, and the folder holds both.
    assert_eq!(notes_of(ben.project(), f.shots[0]), "anna's notes");
    let stored = f.stored();
    assert_eq!(notes_of(&stored, f.shots[0]), "anna's notes");
    assert_eq!(notes_of(&stored, f.shots[2]), "ben's notes");
    assert!(!ben.is_dirty());

    // Both change one field: the second save reports it, with both values, and keeps theirs.
    anna.apply(&notes(f.shots[1], "wide")).unwrap();
    ben.apply(&notes(f.shots[1], "handheld")).unwrap();
    anna.save().unwrap();
    let saved = ben.save().unwrap().shared.unwrap();
    assert_eq!(saved.conflicts.len(), 1, "{saved:?}");
    let conflict = &saved.conflicts[0];
    assert_eq!(conflict.mine, "handheld");
    assert_eq!(conflict.theirs, "wide");
    assert!(saved.conflict_record.is_some());
    assert_eq!(notes_of(ben.project(), f.shots[1]), "wide");
    assert_eq!(notes_of(&f.stored(), f.shots[1]), "wide");
    // Taking his back is an ordinary edit, and undoable.
    ben.apply(&notes(f.shots[1], "handheld")).unwrap();
    ben.save().unwrap();
    assert_eq!(notes_of(&f.stored(), f.shots[1]), "handheld");
    ben.undo().unwrap();
    ben.save().unwrap();
    assert_eq!(notes_of(&f.stored(), f.shots[1]), "wide");
    anna.close().unwrap();
    ben.close().unwrap();
}

#[test]
fn a_scene_leased_by_another_editor_refuses_edits_without_touching_the_document() {
    let f = fixture();
    let mut anna = f.editor("anna");
    let mut ben = f.editor("ben");
    anna.apply(&notes(f.shots[0], "kitchen notes")).unwrap();
    let tick = anna.tick(jiff::Timestamp::now()).unwrap();
    assert_eq!(tick.leases.unwrap().acquired, vec![f.kitchen]);
    assert_eq!(anna.shared().unwrap().held_scenes(), vec![f.kitchen]);

    ben.tick(jiff::Timestamp::now()).unwrap();
    let before = ben.project().clone();
    let err = ben.apply(&notes(f.shots[1], "mine")).unwrap_err();
    assert!(matches!(err, StorageError::Shared { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("being worked on by"), "{text}");
    assert!(text.contains("team.previz"), "{text}");
    assert_eq!(
        ben.project(),
        &before,
        "a refused edit leaves nothing behind"
    );
    assert!(!ben.history().can_undo());
    assert!(!ben.is_dirty());
    // The pier is free.
    ben.apply(&notes(f.shots[2], "pier notes")).unwrap();
    ben.tick(jiff::Timestamp::now()).unwrap();
    assert_eq!(ben.shared().unwrap().held_scenes(), vec![f.pier]);
    let others: Vec<SceneId> = ben
        .shared()
        .unwrap()
        .leases_of_others()
        .iter()
        .map(|l| l.scene)
        .collect();
    assert_eq!(others, vec![f.kitchen]);

    // Anna closes (unsaved edits stay in her workstation journal): her lease goes.
    anna.close().unwrap();
    ben.tick(jiff::Timestamp::now()).unwrap();
    ben.apply(&notes(f.shots[1], "mine")).unwrap();
    ben.save().unwrap();
    let anna = f.editor("anna-again");
    assert_eq!(notes_of(anna.project(), f.shots[1]), "mine");
    ben.close().unwrap();
    anna.close().unwrap();
}

#[test]
fn a_background_save_keeps_the_edits_made_while_it_ran() {
    let f = fixture();
    let mut anna = f.editor("anna");
    let mut ben = f.editor("ben");
    ben.apply(&notes(f.shots[2], "ben first")).unwrap();
    ben.save().unwrap();

    anna.apply(&notes(f.shots[0], "in the save")).unwrap();
    let job = anna.begin_save().unwrap();
    assert!(anna.save_in_progress());
    // While it runs (on another thread in the studio): more edits, and a second save refused.
    anna.apply(&notes(f.shots[1], "after the snapshot"))
        .unwrap();
    assert!(matches!(
        anna.begin_save(),
        Err(StorageError::SaveInProgress { .. })
    ));
    let written = std::thread::spawn(move || job.run()).join().unwrap();
    let report = anna.finish_save(written).unwrap();
    assert_eq!(report.shared.unwrap().merges, 1, "Ben saved in between");
    assert!(
        anna.is_dirty(),
        "the edit made during the save is not saved yet"
    );
    let p = anna.project();
    assert_eq!(notes_of(p, f.shots[0]), "in the save");
    assert_eq!(notes_of(p, f.shots[1]), "after the snapshot");
    assert_eq!(notes_of(p, f.shots[2]), "ben first");
    let stored = f.stored();
    assert_eq!(notes_of(&stored, f.shots[0]), "in the save");
    assert_eq!(notes_of(&stored, f.shots[1]), "");
    anna.save().unwrap();
    assert_eq!(notes_of(&f.stored(), f.shots[1]), "after the snapshot");
    assert!(!anna.is_dirty());
    anna.close().unwrap();
    ben.close().unwrap();
}

#[test]
fn a_failed_background_save_keeps_every_edit_pending() {
    let f = fixture();
    let mut anna = f.editor("anna");
    anna.apply(&notes(f.shots[0], "kept")).unwrap();
    let job = anna.begin_save().unwrap();
    drop(job);
    anna.finish_save(Err(StorageError::SaveInProgress { project: f.dir() }))
        .unwrap_err();
    assert!(!anna.save_in_progress());
    assert!(anna.is_dirty());
    anna.save().unwrap();
    assert_eq!(notes_of(&f.stored(), f.shots[0]), "kept");
    anna.close().unwrap();
}

#[test]
fn closing_without_saving_keeps_the_edits_for_the_next_open_and_discarding_drops_them() {
    let f = fixture();
    let journal = f.tmp.path().join("journal-anna");
    // The journal belongs to a session of a live process (this one): it is recovered once the
    // process is gone, which a child process shows in `shared.rs`. Here: discarding clears it.
    let mut anna = f.editor("anna");
    anna.apply(&notes(f.shots[0], "thrown away")).unwrap();
    assert!(count_files(&journal) > 0, "journalled before it counts");
    anna.close_discarding_changes().unwrap();
    assert_eq!(count_files(&journal), 0);
    let anna = f.editor("anna");
    assert_eq!(notes_of(anna.project(), f.shots[0]), "");
    anna.close().unwrap();
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .count()
    })
}

#[test]
fn sharing_refuses_unsaved_work_and_a_read_only_open_stays_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("solo.previz");
    let mut p = Project::new("Solo");
    p.script
        .scenes
        .push(Scene::new(SceneHeading::parse("INT. ROOM - DAY", false)));
    let rate = p.settings.frame_rate;
    p.shots.push(Shot::new(
        p.script.scenes[0].id,
        RationalTime::new(24, rate),
    ));
    let shot = p.shots[0].id;
    let mut s = Session::create(&dir, p).unwrap();
    s.apply(&notes(shot, "unsaved")).unwrap();
    // Its own lock is held: sharing needs the project closed.
    let err = Session::share(&dir).unwrap_err();
    assert!(matches!(err, StorageError::Locked { .. }), "{err}");
    s.close().unwrap();
    // Closed with unsaved (journalled) edits: refused, nothing changed.
    let err = Session::share(&dir).unwrap_err();
    assert!(err.to_string().contains("unsaved edits"), "{err}");
    assert!(!dir.join("project.json.gen").exists());
    let (mut s, _) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    s.save().unwrap();
    s.close().unwrap();
    Session::share(&dir).unwrap();
    Session::share(&dir).unwrap();
    let (ro, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    assert!(!ro.is_shared());
    assert!(ro.read_only());
    assert_eq!(notes_of(ro.project(), shot), "unsaved");
}

#[test]
fn a_broken_show_store_is_said_once_and_the_project_folder_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("film.previz");
    Session::create(&dir, Project::new("Film"))
        .unwrap()
        .close()
        .unwrap();
    std::fs::write(dir.join("store.json"), b"{ not json").unwrap();
    let (s, _) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    let problem = s
        .store_problem()
        .expect("the broken store.json is reported");
    assert!(problem.contains("store.json"), "{problem}");
    let hash = s.assets().put(b"a take").unwrap();
    assert!(dir.join("assets").join(&hash.to_hex()[..2]).is_dir());
    s.close().unwrap();
}
