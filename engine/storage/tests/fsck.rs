//! `fsck`: missing and damaged media found and named by what uses them, orphans listed, the
//! repair (damaged files aside, intact takes played, an unreadable project file replaced by its
//! newest readable backup), and a clean bill after a crash-free run.

use previz_core::edit::EditCommand;
use previz_core::ids::TakeId;
use previz_core::shot::{Asset, AssetKind, MediaInfo, Provenance, Take};
use previz_storage::{AssetStore, OpenMode, Session, fsck};

fn take(store: &AssetStore, bytes: &[u8]) -> (Take, Asset) {
    let hash = store.put(bytes).unwrap();
    let asset = Asset {
        hash,
        kind: AssetKind::Image,
        media: MediaInfo {
            mime: "image/png".into(),
            bytes: bytes.len() as u64,
            ..MediaInfo::default()
        },
        extra: previz_core::Extra::new(),
    };
    let take = Take {
        id: TakeId::new(),
        asset: hash,
        provenance: Provenance::default(),
        created: jiff::Timestamp::now(),
        note: String::new(),
        extra: previz_core::Extra::new(),
    };
    (take, asset)
}

/// A project whose first shot has two stored takes, the second active.
fn project(
    root: &std::path::Path,
) -> (
    std::path::PathBuf,
    previz_core::ContentHash,
    previz_core::ContentHash,
) {
    let dir = root.join("film.previz");
    let mut p = previz_core::synth::project(2, 0);
    for shot in &mut p.shots {
        shot.takes.clear();
        shot.active_take = None;
    }
    p.assets.clear();
    p.voices.clear();
    let shot = p.shots[0].id;
    let mut session = Session::create(&dir, p).unwrap();
    let store = session.assets();
    let mut hashes = Vec::new();
    for bytes in [b"first frame".as_slice(), b"second frame".as_slice()] {
        let (t, a) = take(&store, bytes);
        hashes.push(t.asset);
        session
            .apply(&EditCommand::AttachTake {
                shot,
                take: Box::new(t),
                asset: Some(Box::new(a)),
                make_active: true,
            })
            .unwrap();
        session.save().unwrap();
    }
    session.close().unwrap();
    (dir, hashes[0], hashes[1])
}

#[test]
fn clean_then_damaged_then_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, first, second) = project(tmp.path());
    let report = fsck(&dir, false, &mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.checked, 2);
    assert!(report.orphans.is_empty());

    // A file nobody names is an orphan, kept.
    let store = AssetStore::new(dir.join("assets"));
    let orphan = store.put(b"from another project").unwrap();
    let report = fsck(&dir, false, &mut |_, _| {}).unwrap();
    assert!(report.is_clean());
    assert_eq!(report.orphans, [store.path_of(&orphan)]);

    // The active take's frame is damaged on the share.
    std::fs::write(store.path_of(&second), b"second fram3").unwrap();
    let report = fsck(&dir, false, &mut |_, _| {}).unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].problem, "damaged");
    assert!(
        report.problems[0].used_by[0].starts_with("shot "),
        "{:?}",
        report.problems
    );
    assert!(report.repaired.is_empty(), "no repair without asking");

    let report = fsck(&dir, true, &mut |_, _| {}).unwrap();
    assert_eq!(report.repaired.len(), 2, "{:?}", report.repaired);
    assert!(dir.join("assets/damaged").join(second.to_hex()).is_file());
    let (s, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    assert_eq!(
        s.project().shots[0].active().unwrap().asset,
        first,
        "plays the intact take"
    );
    drop(s);
    // The lost frame is still reported (its take remains, offline) until it is redrawn.
    let report = fsck(&dir, false, &mut |_, _| {}).unwrap();
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].problem, "missing");
    store.put(b"second frame").unwrap();
    assert!(fsck(&dir, false, &mut |_, _| {}).unwrap().is_clean());
}

#[test]
fn an_unreadable_project_file_is_replaced_by_its_newest_readable_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _, _) = project(tmp.path());
    // Another program writes a broken file over it (a new file renamed into place: the newest
    // backup, a hard link to the old file, is untouched).
    let bytes = std::fs::read(dir.join("project.json")).unwrap();
    std::fs::write(dir.join("broken.json"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::rename(dir.join("broken.json"), dir.join("project.json")).unwrap();
    assert!(Session::open(&dir, OpenMode::ReadOnly).is_err());
    let report = fsck(&dir, false, &mut |_, _| {}).unwrap();
    assert!(report.restored_from.is_some());
    assert!(!report.is_clean());
    assert!(
        Session::open(&dir, OpenMode::ReadOnly).is_err(),
        "nothing changed without repair"
    );
    let report = fsck(&dir, true, &mut |_, _| {}).unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    let (s, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    assert_eq!(s.project().shots[0].takes.len(), 2);
    drop(s);
    let damaged = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("project.damaged-")
        })
        .count();
    assert_eq!(damaged, 1, "the damaged file is kept aside");
    assert!(fsck(&dir, false, &mut |_, _| {}).unwrap().is_clean());
}

#[test]
fn damage_in_place_falls_back_to_the_backup_before() {
    // Bytes damaged in place also damage the newest backup (a hard link to the same file):
    // the one before it is used, and says so.
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _, _) = project(tmp.path());
    let bytes = std::fs::read(dir.join("project.json")).unwrap();
    std::fs::write(dir.join("project.json"), &bytes[..bytes.len() / 3]).unwrap();
    let report = fsck(&dir, true, &mut |_, _| {}).unwrap();
    let used = report.restored_from.unwrap();
    let (s, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    assert_eq!(
        s.project().shots[0].takes.len(),
        1,
        "restored from {}",
        used.display()
    );
}

#[test]
fn paths_that_leave_the_project_are_reported() {
    use previz_core::script::{CharacterField, CharacterLook};
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _, _) = project(tmp.path());
    std::fs::create_dir_all(dir.join("looks")).unwrap();
    std::fs::write(dir.join("looks/mara.safetensors"), b"lora").unwrap();
    let (mut session, _) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    let cast: Vec<_> = session
        .project()
        .script
        .characters
        .iter()
        .map(|c| c.id)
        .collect();
    assert!(cast.len() >= 3, "the synthetic script has a cast");
    for (character, lora) in cast.iter().zip([
        "looks/mara.safetensors",
        "../../etc/passwd",
        "/abs/jon.safetensors",
    ]) {
        session
            .apply(&EditCommand::EditCharacter {
                character: *character,
                field: CharacterField::Look(Some(CharacterLook::new(lora))),
            })
            .unwrap();
    }
    session.save().unwrap();
    session.close().unwrap();
    let report = fsck(&dir, false, &mut |_, _| {}).unwrap();
    assert_eq!(report.unsafe_paths.len(), 2, "{:?}", report.unsafe_paths);
    assert!(
        report.unsafe_paths[0].contains("'..'"),
        "{:?}",
        report.unsafe_paths
    );
    assert!(
        report.unsafe_paths[1].contains("absolute"),
        "{:?}",
        report.unsafe_paths
    );
    assert!(!report.is_clean());
}
