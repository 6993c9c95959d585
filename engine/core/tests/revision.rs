//! Script revision re-flow: untouched scenes keep their ids, shots and takes.

mod common;

use common::speech;
use previz_core::revision::revise;
use previz_core::*;

/// A scene: heading, then speeches as (cue, text), with an action line first.
type SceneSpec<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

fn draft(scenes: &[SceneSpec<'_>]) -> Script {
    let mut script = Script::default();
    for (heading, action, lines) in scenes {
        let mut scene = Scene::new(SceneHeading::parse(heading, false));
        scene.elements.push(ScriptElement::Action {
            text: (*action).into(),
            forced: false,
        });
        for (cue, text) in *lines {
            scene.elements.push(speech(cue, text));
        }
        script.scenes.push(scene);
    }
    script.index_cast();
    script
}

const V1: &[SceneSpec<'static>] = &[
    (
        "INT. LIGHTHOUSE - NIGHT",
        "Rain hammers the lamp room. MARA winds the clockwork by hand.",
        &[
            ("MARA", "Forty years this light has never failed."),
            ("OTTO", "There is a first time for everything."),
        ],
    ),
    (
        "EXT. CLIFF PATH - NIGHT",
        "A lantern bobs up the path. OTTO climbs, soaked to the bone.",
        &[("OTTO", "Mara! The boat is on the rocks!")],
    ),
    (
        "INT. HARBOUR OFFICE - DAY",
        "Paperwork everywhere. The harbour master stamps a form without reading it.",
        &[
            ("HARBOUR MASTER", "Name of the vessel?"),
            ("MARA", "The Gannet. Out of Leith."),
        ],
    ),
    (
        "EXT. BEACH - DAWN",
        "Wreckage on the sand. Gulls pick through crates of oranges.",
        &[],
    ),
];

/// A project holding the V1 draft, a shot per scene covering its first speech, and a dialogue
/// clip per speech.
fn project() -> Project {
    let mut project = Project::new("Revision");
    project.script = draft(V1);
    let rate = project.settings.frame_rate;
    let scenes: Vec<Scene> = project.script.scenes.clone();
    for scene in &scenes {
        let mut shot = Shot::new(scene.id, RationalTime::new(48, rate));
        shot.dialogue = scene.dialogue().take(1).map(|d| d.id).collect();
        shot.prompt = format!("frame for {}", scene.heading.text);
        project
            .apply(&EditCommand::AddShot {
                shot: Box::new(shot),
                after: None,
            })
            .unwrap();
    }
    let a1 = project.timeline.tracks[1].id;
    let lines: Vec<LineId> = scenes
        .iter()
        .flat_map(|s| s.dialogue().map(|d| d.id))
        .collect();
    for line in lines {
        let at = project.timeline.tracks[1].duration_frames();
        let clip = Clip::new("voice", ClipSource::Dialogue { line, take: None }, 24);
        project
            .apply(&EditCommand::InsertClip {
                track: a1,
                frame: at,
                clip,
            })
            .unwrap();
    }
    project
}

fn heading_ids(project: &Project) -> Vec<(String, SceneId, bool)> {
    project
        .script
        .scenes
        .iter()
        .map(|s| (s.heading.text.clone(), s.id, s.omitted))
        .collect()
}

fn apply_revision(project: &mut Project, scenes: &[SceneSpec<'_>]) -> revision::RevisionReport {
    let (command, report) = revise(project, draft(scenes));
    let before = project.clone();
    let applied = project.apply(&command).unwrap();
    assert!(project.validate().is_empty(), "{:?}", project.validate());
    // One undo step brings the old draft back exactly.
    let mut undone = project.clone();
    undone.apply_changes(&applied.undo).unwrap();
    assert_eq!(undone, before);
    report
}

#[test]
fn the_same_draft_changes_nothing() {
    let mut p = project();
    let before = p.clone();
    let report = apply_revision(&mut p, V1);
    assert!(report.is_unchanged(), "{report:?}");
    assert_eq!(report.scenes_unchanged, 4);
    assert_eq!(p.script.scenes, before.script.scenes);
    assert_eq!(p.script.characters, before.script.characters);
}

#[test]
fn editing_a_line_keeps_scene_and_line_ids() {
    let mut p = project();
    let before = p.clone();
    let mut v2 = V1.to_vec();
    v2[0].2 = &[
        ("MARA", "Forty long years this light has never once failed."),
        ("OTTO", "There is a first time for everything."),
    ];
    let report = apply_revision(&mut p, &v2);
    assert_eq!(report.scenes_changed.len(), 1, "{report:?}");
    assert_eq!(report.scenes_changed[0].lines_changed, 1);
    assert_eq!(report.scenes_changed[0].lines_removed, 0);
    assert_eq!(heading_ids(&p), heading_ids(&before));
    let old_lines: Vec<LineId> = before.script.scenes[0].dialogue().map(|d| d.id).collect();
    let new_lines: Vec<LineId> = p.script.scenes[0].dialogue().map(|d| d.id).collect();
    assert_eq!(old_lines, new_lines);
    assert_eq!(
        p.shots, before.shots,
        "shots and their coverage are untouched"
    );
    assert!(
        p.script.scenes[0]
            .dialogue()
            .next()
            .unwrap()
            .spoken_text()
            .contains("Forty long years")
    );
}

#[test]
fn a_line_rewritten_in_place_by_the_same_character_keeps_its_id() {
    let mut p = project();
    let before = p.clone();
    let mut v2 = V1.to_vec();
    v2[1].2 = &[("OTTO", "Hurry, hurry, a ship is breaking up below!")];
    let report = apply_revision(&mut p, &v2);
    assert_eq!(report.scenes_changed[0].lines_changed, 1, "{report:?}");
    assert_eq!(
        p.script.scenes[1].dialogue().next().unwrap().id,
        before.script.scenes[1].dialogue().next().unwrap().id
    );
    assert!(report.shots_lost_dialogue.is_empty());
}

#[test]
fn inserting_a_scene_keeps_every_other_scene_and_its_shots() {
    let mut p = project();
    let before = p.clone();
    let mut v2 = V1.to_vec();
    v2.insert(
        2,
        (
            "INT. OTTO'S COTTAGE - NIGHT",
            "A kettle screams on the stove. Nobody moves to take it off.",
            &[("OTTO", "Tea. Then we tell the coastguard.")],
        ),
    );
    let report = apply_revision(&mut p, &v2);
    assert_eq!(report.scenes_added.len(), 1, "{report:?}");
    assert_eq!(report.scenes_unchanged, 4);
    let kept: Vec<SceneId> = before.script.scenes.iter().map(|s| s.id).collect();
    let now: Vec<SceneId> = p.script.scenes.iter().map(|s| s.id).collect();
    assert_eq!(now.len(), 5);
    assert_eq!(
        [now[0], now[1], now[3], now[4]],
        [kept[0], kept[1], kept[2], kept[3]]
    );
    assert_eq!(p.shots, before.shots);
    assert_eq!(p.timeline, before.timeline);
}

#[test]
fn deleting_a_scene_with_shots_keeps_it_as_omitted() {
    let mut p = project();
    let before = p.clone();
    let mut v2 = V1.to_vec();
    v2.remove(1);
    let report = apply_revision(&mut p, &v2);
    assert_eq!(report.scenes_removed.len(), 1, "{report:?}");
    assert!(report.scenes_removed[0].kept_as_omitted);
    assert_eq!(report.scenes_removed[0].shots, 1);
    let scene = p.script.scene(before.script.scenes[1].id).unwrap();
    assert!(scene.omitted);
    assert_eq!(p.script.scene_index(scene.id), Some(1), "kept where it was");
    assert_eq!(p.shots, before.shots, "its shot and takes are still there");
    assert_eq!(
        p.script.display_numbers(),
        vec![Some("1".into()), None, Some("2".into()), Some("3".into())]
    );

    // It comes back in the next draft: same id, no longer omitted.
    let report = apply_revision(&mut p, V1);
    assert_eq!(report.scenes_changed.len(), 1, "{report:?}");
    assert_eq!(heading_ids(&p), heading_ids(&before));
}

#[test]
fn deleting_a_scene_without_shots_drops_it() {
    let mut p = project();
    // Scene 4 has no dialogue; remove its shot first.
    let shot = p
        .shots
        .iter()
        .find(|s| s.scene == p.script.scenes[3].id)
        .unwrap()
        .id;
    p.apply(&EditCommand::RemoveShot { shot }).unwrap();
    let report = apply_revision(&mut p, &V1[..3]);
    assert_eq!(report.scenes_removed.len(), 1);
    assert!(!report.scenes_removed[0].kept_as_omitted);
    assert_eq!(p.script.scenes.len(), 3);
}

#[test]
fn a_deleted_line_is_uncovered_and_its_voice_clip_lifted() {
    let mut p = project();
    let before = p.clone();
    let mut v2 = V1.to_vec();
    v2[2].2 = &[("MARA", "The Gannet. Out of Leith.")];
    let report = apply_revision(&mut p, &v2);
    let lost = before.script.scenes[2].dialogue().next().unwrap().id;
    assert_eq!(report.scenes_changed[0].lines_removed, 1, "{report:?}");
    assert_eq!(report.shots_lost_dialogue.len(), 1);
    assert_eq!(report.clips_lifted.len(), 1);
    let shot = p
        .shots
        .iter()
        .find(|s| s.scene == before.script.scenes[2].id)
        .unwrap();
    assert!(!shot.dialogue.contains(&lost));
    assert!(p.script.dialogue(lost).is_none());
    // The remaining line kept its id.
    let kept = before.script.scenes[2].dialogue().nth(1).unwrap().id;
    assert_eq!(p.script.scenes[2].dialogue().next().unwrap().id, kept);
}

#[test]
fn a_moved_scene_keeps_its_id() {
    let mut p = project();
    let before = p.clone();
    let v2 = vec![V1[0], V1[2], V1[3], V1[1]];
    let report = apply_revision(&mut p, &v2);
    assert_eq!(report.scenes_moved.len(), 1, "{report:?}");
    assert_eq!(report.scenes_moved[0].id, before.script.scenes[1].id);
    assert!(report.scenes_added.is_empty() && report.scenes_removed.is_empty());
    assert_eq!(p.script.scenes[3].id, before.script.scenes[1].id);
}

#[test]
fn characters_keep_ids_and_descriptions() {
    let mut p = project();
    let mara = p
        .script
        .characters
        .iter()
        .position(|c| c.name == "MARA")
        .unwrap();
    p.script.characters[mara].description = "Keeper of the light, 60s".into();
    let mara_id = p.script.characters[mara].id;
    let mut v2 = V1.to_vec();
    v2.push((
        "EXT. SEA - NIGHT",
        "Black water.",
        &[("MARA", "Hold on!"), ("STRANGER", "Help!")],
    ));
    apply_revision(&mut p, &v2);
    let mara = p
        .script
        .characters
        .iter()
        .find(|c| c.name == "MARA")
        .unwrap();
    assert_eq!(
        (mara.id, mara.description.as_str()),
        (mara_id, "Keeper of the light, 60s")
    );
    assert!(p.script.characters.iter().any(|c| c.name == "STRANGER"));
    let last = p.script.scenes.last().unwrap();
    assert_eq!(last.dialogue().next().unwrap().character, Some(mara_id));
}

#[test]
fn a_heading_change_is_a_changed_scene_not_a_new_one() {
    let mut p = project();
    let before = p.clone();
    let mut v2 = V1.to_vec();
    v2[3].0 = "EXT. BEACH - MORNING";
    let report = apply_revision(&mut p, &v2);
    assert_eq!(report.scenes_changed.len(), 1, "{report:?}");
    assert!(report.scenes_changed[0].heading_changed);
    assert_eq!(p.script.scenes[3].id, before.script.scenes[3].id);
}
