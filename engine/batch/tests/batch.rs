//! The batch on a real screenplay with the embedded engines (rules, sketch, silent voices):
//! resume after cancellation without redoing units, sharded workers plus a gather equal to a
//! single process unit for unit, and claims keeping two workers off one unit.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use previz_batch::{
    BatchEngines, BatchOptions, Event, Mode, Shard, Steps, Summary, UnitStatus, run,
};
use previz_breakdown::RuleEngine;
use previz_core::project::Project;
use previz_frames::FrameEngine;
use previz_jobs::CancelToken;
use previz_models::device::DeviceChoice;
use previz_models::registry::Registry;
use previz_render::export::ExportFormat;
use previz_storage::{ClaimAttempt, OpenMode, Session, WorkArea};
use previz_voices::VoiceBank;

fn engines() -> BatchEngines {
    BatchEngines {
        breakdown: Box::new(RuleEngine),
        frames: FrameEngine::Sketch,
        // No espeak-ng, no Piper: silent takes of the speech's length (deterministic).
        voices: VoiceBank::with_registry(Registry::default(), DeviceChoice::Cpu)
            .with_espeak_program("previz-test-no-espeak"),
        default_voice: None,
    }
}

/// A project made from `screenplay` in a fresh folder under `root`.
fn project(root: &Path, name: &str, screenplay: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/screenplays")
        .join(screenplay);
    let bytes = std::fs::read(&path).unwrap();
    let format = previz_screenplay::Format::detect(Some(screenplay), &bytes);
    let parsed = format.parse(&bytes).unwrap();
    let mut p = Project::new("Batch test");
    p.script = previz_screenplay::convert::to_script(&parsed.screenplay);
    let dir = root.join(format!("{name}.previz"));
    Session::create(&dir, p).unwrap().close().unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn options(dir: &Path, mode: Mode, shard: Shard) -> BatchOptions {
    let mut o = BatchOptions::new(dir.with_extension("exports"));
    o.steps = "breakdown,frames,voices,exports".parse::<Steps>().unwrap();
    o.exports = vec![ExportFormat::Otio, ExportFormat::Csv];
    o.mode = mode;
    o.shard = shard;
    o.worker = format!("test {shard}");
    o
}

/// Runs and collects the unit events: key -> status.
fn go(
    dir: &Path,
    o: &BatchOptions,
    cancel_after: Option<usize>,
) -> (Summary, Vec<(String, UnitStatus)>) {
    let cancel = CancelToken::new();
    let mut units = Vec::new();
    let token = cancel.clone();
    let mut sink = |e: &Event| {
        if let Event::Unit { key, status, .. } = e {
            units.push((key.clone(), *status));
            if cancel_after
                .is_some_and(|n| units.iter().filter(|(_, s)| *s == UnitStatus::Done).count() >= n)
            {
                token.cancel();
            }
        }
    };
    let summary = run(dir, &mut engines(), o, &mut sink, &cancel).unwrap();
    (summary, units)
}

fn done(units: &[(String, UnitStatus)]) -> BTreeSet<String> {
    units
        .iter()
        .filter(|(_, s)| *s == UnitStatus::Done)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Every published unit: kind/key -> the media it made.
fn published(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let area = WorkArea::of_project(dir);
    let mut out = BTreeMap::new();
    for kind in ["breakdown", "frames", "voice"] {
        for key in area.published_keys(kind).unwrap() {
            let bytes = area.published(kind, &key).unwrap().unwrap();
            let record: previz_batch::UnitRecord = serde_json::from_slice(&bytes).unwrap();
            let media = record.assets.iter().map(ToString::to_string).collect();
            out.insert(format!("{kind}/{key}"), media);
        }
    }
    out
}

/// What the project holds, without ids and times: shots (fields) with their takes' media,
/// lines with theirs, the timeline's clip lengths.
fn content(dir: &Path) -> String {
    let (s, _) = Session::open(dir, OpenMode::ReadOnly).unwrap();
    let p = s.project();
    let numbers = p.shot_numbers();
    let mut lines = Vec::new();
    for shot in &p.shots {
        lines.push(format!(
            "shot {} {:?} {:?} {} {} takes {:?}",
            numbers[&shot.id],
            shot.size,
            shot.angle,
            shot.action,
            shot.duration.value,
            shot.takes
                .iter()
                .map(|t| t.asset.to_string())
                .collect::<Vec<_>>()
        ));
    }
    for scene in &p.script.scenes {
        for d in scene.dialogue() {
            let take = p
                .voices
                .get(&d.id)
                .and_then(|v| v.active())
                .map(|t| t.asset.to_string());
            lines.push(format!("line {} {:?}", d.cue, take));
        }
    }
    for track in &p.timeline.tracks {
        let lengths: Vec<i64> = track
            .items
            .iter()
            .map(|i| match i {
                previz_core::timeline::Item::Clip(c) => c.duration_frames,
                previz_core::timeline::Item::Gap(g) => -g.duration_frames,
                #[allow(unreachable_patterns)]
                _ => 0,
            })
            .collect();
        lines.push(format!("track {} {lengths:?}", track.name));
    }
    lines.join("\n")
}

#[test]
fn single_process_then_rerun_finds_everything_done() {
    let root = tempfile::tempdir().unwrap();
    let dir = project(root.path(), "film", "every-feature.fountain");
    let o = options(&dir, Mode::All, Shard::WHOLE);
    let (first, units) = go(&dir, &o, None);
    assert_eq!(first.failed, 0);
    assert!(first.done > 20, "{first:?}");
    assert_eq!(first.cached, 0);
    assert_eq!(first.outputs.len(), 2);
    assert!(first.outputs.iter().all(|p| p.is_file()));
    assert_eq!(done(&units).len(), first.done, "no unit made twice");
    let (second, _) = go(&dir, &o, None);
    assert_eq!(second.done, 0, "{second:?}");
    assert_eq!(second.applied, 0);
    assert_eq!(second.exit_status(), 0);
    // The project holds the frames, the voices and a timeline.
    let (s, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    assert!(s.project().shots.iter().all(|shot| !shot.takes.is_empty()));
    assert!(!s.project().voices.is_empty());
    assert!(s.project().validate().is_empty());
}

#[test]
fn cancelled_run_resumes_without_redoing_units() {
    let root = tempfile::tempdir().unwrap();
    let dir = project(root.path(), "film", "every-feature.fountain");
    let reference = project(root.path(), "reference", "every-feature.fountain");
    copy_dir(&dir, &reference);
    let o = options(&dir, Mode::All, Shard::WHOLE);
    let (first, u1) = go(&dir, &o, Some(12));
    assert!(first.cancelled);
    assert_eq!(first.exit_status(), 130);
    let (second, u2) = go(&dir, &o, None);
    assert!(!second.cancelled);
    let (d1, d2) = (done(&u1), done(&u2));
    assert!(
        d1.is_disjoint(&d2),
        "a unit finished before the cancel was made again"
    );
    // Together they made exactly what one uninterrupted run makes.
    let ro = options(&reference, Mode::All, Shard::WHOLE);
    let (whole, u3) = go(&reference, &ro, None);
    let d3 = done(&u3);
    assert_eq!(
        d1.len() + d2.len(),
        d3.len(),
        "{first:?} {second:?} {whole:?}"
    );
    assert_eq!(published(&dir), published(&reference));
    assert_eq!(content(&dir), content(&reference));
}

#[test]
fn shards_and_a_gather_equal_one_process_unit_for_unit() {
    let root = tempfile::tempdir().unwrap();
    let single = project(root.path(), "single", "every-feature.fountain");
    let farm = root.path().join("farm.previz");
    copy_dir(&single, &farm);
    go(&single, &options(&single, Mode::All, Shard::WHOLE), None);

    // Two workers that do only their own scenes (no stealing), one after the other.
    let mut per_shard = Vec::new();
    for i in 0..2 {
        let mut o = options(&farm, Mode::Work, Shard::new(i, 2).unwrap());
        o.steal = false;
        let (summary, units) = go(&farm, &o, None);
        assert_eq!(summary.failed, 0);
        assert!(summary.done > 0, "shard {i} had work: {summary:?}");
        per_shard.push(done(&units));
    }
    assert!(per_shard[0].is_disjoint(&per_shard[1]));
    // Workers change nothing in the project itself.
    let (s, _) = Session::open(&farm, OpenMode::ReadOnly).unwrap();
    assert!(s.project().shots.is_empty());
    drop(s);
    let (gathered, units) = go(&farm, &options(&farm, Mode::Gather, Shard::WHOLE), None);
    let made_in_gather: Vec<_> = units
        .iter()
        .filter(|(_, s)| *s == UnitStatus::Done)
        .collect();
    // The gather only writes the exports: every other unit came from the workers.
    assert_eq!(made_in_gather.len(), 2, "{gathered:?}");
    assert_eq!(published(&farm), published(&single));
    assert_eq!(content(&farm), content(&single));
}

#[test]
fn a_unit_another_live_worker_holds_is_left_to_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = project(root.path(), "film", "short-action.fountain");
    // Learn the keys, then start again with every frames unit claimed by a live worker (this
    // very process, as another worker on this host would be).
    let reference = root.path().join("reference.previz");
    copy_dir(&dir, &reference);
    let mut o = options(&reference, Mode::Work, Shard::WHOLE);
    o.steps = "breakdown,frames".parse().unwrap();
    go(&reference, &o, None);
    let keys = WorkArea::of_project(&reference)
        .published_keys("frames")
        .unwrap();
    assert!(!keys.is_empty());
    let area = WorkArea::of_project(&dir);
    let mut claims = Vec::new();
    for k in &keys {
        match area
            .claim(
                k,
                "other worker",
                jiff::Timestamp::now(),
                std::time::Duration::from_secs(600),
            )
            .unwrap()
        {
            ClaimAttempt::Claimed(c) => claims.push(c),
            ClaimAttempt::Held { .. } => panic!("fresh claim held"),
        }
    }
    let mut o = options(&dir, Mode::Work, Shard::WHOLE);
    o.steps = "breakdown,frames".parse().unwrap();
    let (summary, units) = go(&dir, &o, None);
    assert_eq!(summary.elsewhere, keys.len(), "{summary:?}");
    assert!(
        units
            .iter()
            .filter(|(_, s)| *s == UnitStatus::Done)
            .all(|(k, _)| !keys.contains(k))
    );
    assert_eq!(
        summary.exit_status(),
        0,
        "a worker leaves held units to their holder"
    );
    // A gather that does not wait reports them (exit 75); released, they are made.
    let mut g = options(&dir, Mode::Gather, Shard::WHOLE);
    g.steps = "breakdown,frames".parse().unwrap();
    g.wait = false;
    let (summary, _) = go(&dir, &g, None);
    assert_eq!(summary.held, keys.len());
    assert_eq!(summary.exit_status(), 75);
    for c in claims {
        c.release().unwrap();
    }
    let (summary, _) = go(&dir, &g, None);
    assert_eq!(summary.done, keys.len());
    assert_eq!(summary.exit_status(), 0);
}

#[test]
fn a_damaged_or_orphaned_record_is_made_again() {
    let root = tempfile::tempdir().unwrap();
    let dir = project(root.path(), "film", "short-action.fountain");
    let mut o = options(&dir, Mode::Work, Shard::WHOLE);
    o.steps = "breakdown,frames".parse().unwrap();
    let (first, _) = go(&dir, &o, None);
    assert!(first.done > 2);
    let area = WorkArea::of_project(&dir);
    let keys = area.published_keys("frames").unwrap();
    // One record cut short on the share, one whose picture was lost from the asset store.
    let damaged = area.unit_path("frames", &keys[0]).unwrap();
    let bytes = std::fs::read(&damaged).unwrap();
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
    let record: previz_batch::UnitRecord =
        serde_json::from_slice(&area.published("frames", &keys[1]).unwrap().unwrap()).unwrap();
    let store = previz_storage::AssetStore::new(dir.join("assets"));
    std::fs::remove_file(store.path_of(&record.assets[0])).unwrap();
    let (second, units) = go(&dir, &o, None);
    let remade = done(&units);
    assert_eq!(
        remade,
        [keys[0].clone(), keys[1].clone()].into_iter().collect(),
        "{second:?}"
    );
    assert!(
        store.contains(&record.assets[0]),
        "the same picture is drawn again"
    );
}
