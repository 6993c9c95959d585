//! A small but complete project to edit in tests.
#![allow(dead_code)] // each test file uses a different part of the fixture

use previz_core::*;

pub struct Fixture {
    pub project: Project,
    pub v1: TrackId,
    pub a1: TrackId,
    pub scene1: SceneId,
    pub scene2: SceneId,
    pub lines: Vec<LineId>,
    pub shots: Vec<ShotId>,
    pub image: ContentHash,
    pub sound: ContentHash,
}

pub fn speech(cue: &str, text: &str) -> ScriptElement {
    ScriptElement::Dialogue(DialogueBlock {
        id: LineId::new(),
        character: None,
        cue: cue.into(),
        extensions: vec![],
        forced: false,
        dual: None,
        notes: Vec::new(),
        parts: vec![DialoguePart::Line(text.into())],
        extra: Extra::new(),
    })
}

pub fn fixture() -> Fixture {
    let mut project = Project::new("Fixture");
    let mut s1 = Scene::new(SceneHeading::parse("INT. LIGHTHOUSE - NIGHT", false));
    s1.elements = vec![
        ScriptElement::Action {
            text: "Waves hit the glass.".into(),
            forced: false,
        },
        speech("MARA", "Is anyone there?"),
        speech("OTTO", "Only the sea."),
    ];
    let mut s2 = Scene::new(SceneHeading::parse("EXT. CLIFF - DAWN", false));
    s2.elements = vec![speech("MARA", "Look.")];
    let (scene1, scene2) = (s1.id, s2.id);
    let lines = s1.dialogue().chain(s2.dialogue()).map(|d| d.id).collect();
    project.script.scenes = vec![s1, s2];
    project.script.index_cast();

    let rate = project.settings.frame_rate;
    let mut shots = Vec::new();
    for scene in [scene1, scene1, scene2] {
        let shot = Shot::new(scene, RationalTime::new(48, rate));
        shots.push(shot.id);
        project.shots.push(shot);
    }
    let image = ContentHash([1; 32]);
    let sound = ContentHash([2; 32]);
    for (hash, kind) in [(image, AssetKind::Image), (sound, AssetKind::Audio)] {
        project.assets.insert(
            hash,
            Asset {
                hash,
                kind,
                media: MediaInfo::default(),
                extra: Extra::new(),
            },
        );
    }
    let v1 = project.timeline.tracks[0].id;
    let a1 = project.timeline.tracks[1].id;
    Fixture {
        project,
        v1,
        a1,
        scene1,
        scene2,
        lines,
        shots,
        image,
        sound,
    }
}

pub fn slug(name: &str, frames: i64) -> Clip {
    Clip::new(name, ClipSource::Slug { text: name.into() }, frames)
}

/// The track as (name or "gap", duration) pairs.
pub fn layout(project: &Project, track: TrackId) -> Vec<(String, i64)> {
    project
        .timeline
        .track(track)
        .unwrap()
        .items
        .iter()
        .map(|item| match item {
            Item::Clip(c) => (c.name.clone(), c.duration_frames),
            Item::Gap(g) => ("gap".into(), g.duration_frames),
        })
        .collect()
}

pub fn l(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(n, d)| ((*n).to_owned(), *d)).collect()
}

/// Every structural invariant the edit verbs promise.
pub fn assert_sound(project: &Project) {
    let problems = project.validate();
    assert!(problems.is_empty(), "{problems:?}");
    for track in &project.timeline.tracks {
        for pair in track.items.windows(2) {
            assert!(
                !(pair[0].is_gap() && pair[1].is_gap()),
                "adjacent gaps on {}",
                track.name
            );
        }
        assert!(
            !track.items.last().is_some_and(Item::is_gap),
            "trailing gap on {}",
            track.name
        );
    }
}
