//! The rule-based breakdown on the sample screenplays, and the driver around it.

mod common;

use previz_breakdown::plan::json_schema;
use previz_breakdown::rules::{plan_scene, props};
use previz_breakdown::scene::SceneInput;
use previz_breakdown::validate::validate;
use previz_breakdown::{RuleEngine, SceneRange, SceneStatus, breakdown_scene, finish};
use previz_core::{EditCommand, ShotSize};

#[test]
fn rules_give_valid_plans_that_cover_every_line() {
    for name in common::SAMPLES {
        let project = common::project(name);
        for index in 0..project.script.scenes.len() {
            let scene = SceneInput::new(&project, index).unwrap();
            let plan = plan_scene(&scene);
            assert!(
                validate(&plan, &scene).is_empty(),
                "{name} scene {}: {:?}",
                index + 1,
                validate(&plan, &scene)
            );
            assert_eq!(plan, plan_scene(&scene), "deterministic");
            if scene.new_location {
                assert!(
                    matches!(plan.shots[0].size, ShotSize::Wide | ShotSize::ExtremeWide),
                    "{name} {index}: opens wide"
                );
            }
            // Plans the rules make also read back through the schema's types.
            let text = serde_json::to_string(&plan).unwrap();
            let _: previz_breakdown::plan::ShotPlan = serde_json::from_str(&text).unwrap();
        }
    }
    assert!(
        json_schema()["properties"]["shots"]["maxItems"]
            .as_u64()
            .unwrap()
            >= 12
    );
}

#[test]
fn props_are_found_after_handling_and_before_sounds() {
    assert_eq!(
        props("Mara picks up the letter and reads it."),
        vec!["the letter"]
    );
    assert_eq!(
        props("He pulls out a revolver. The phone rings."),
        vec!["the revolver", "the phone"]
    );
    assert!(props("She opens the door and looks at her hands.").is_empty());
}

#[test]
fn driver_lands_each_scene_as_one_undoable_batch_and_resumes() {
    let mut project = common::project("dialogue-heavy.fountain");
    let ctx = common::ctx();
    let before = project.clone();
    let mut engine = RuleEngine;
    let mut applied = Vec::new();
    for index in 0..project.script.scenes.len() {
        let outcome = breakdown_scene(&project, index, &mut engine, false, &ctx).unwrap();
        assert!(
            matches!(outcome.status, SceneStatus::Planned { .. }),
            "{:?}",
            outcome.status
        );
        let command = outcome.command.unwrap();
        assert!(matches!(command, EditCommand::Batch { .. }));
        applied.push(project.apply(&command).unwrap());
    }
    let shots = project.shots.len();
    assert!(
        shots > before.shots.len(),
        "the master shots became coverage"
    );
    // Every speech is covered by some shot.
    for scene in &project.script.scenes {
        for d in scene.dialogue() {
            assert!(
                project.shots.iter().any(|s| s.dialogue.contains(&d.id)),
                "uncovered {}",
                d.cue
            );
        }
    }
    // Running again: every scene is up to date.
    for index in 0..project.script.scenes.len() {
        let outcome = breakdown_scene(&project, index, &mut engine, false, &ctx).unwrap();
        assert!(
            matches!(outcome.status, SceneStatus::Skipped(ref why) if why.contains("up to date"))
        );
    }
    // A shot edited by hand protects its scene.
    let edited = project.shots[1].id;
    let scene_of = project.shots[1].scene;
    project
        .apply(&EditCommand::EditShot {
            shot: edited,
            field: previz_core::ShotField::Subject("my own".into()),
        })
        .unwrap();
    let index = project
        .script
        .scenes
        .iter()
        .position(|s| s.id == scene_of)
        .unwrap();
    let outcome = breakdown_scene(&project, index, &mut engine, false, &ctx).unwrap();
    assert!(matches!(outcome.status, SceneStatus::Skipped(ref why) if why.contains("by hand")));
    let forced = breakdown_scene(&project, index, &mut engine, true, &ctx).unwrap();
    let cmd = forced.command.unwrap();
    project.apply(&cmd).unwrap();
    assert!(
        project.shots.iter().any(|s| s.id == edited),
        "force keeps hand-edited shots"
    );
    // The bible and timeline command applies; undo takes everything back.
    let finishing = finish(&project);
    project.apply(&finishing).unwrap();
    assert!(
        project
            .timeline
            .tracks
            .iter()
            .any(|t| t.name == "Storyboard")
    );
}

#[test]
fn undo_restores_the_project_exactly() {
    let mut project = common::project("short-action.fountain");
    let before = project.clone();
    let outcome = breakdown_scene(&project, 0, &mut RuleEngine, false, &common::ctx()).unwrap();
    let applied = project.apply(&outcome.command.unwrap()).unwrap();
    assert_ne!(project, before);
    project.apply_changes(&applied.undo).unwrap();
    assert_eq!(project, before);
}

#[test]
fn scene_ranges_parse() {
    assert_eq!(SceneRange::parse("2-3").unwrap().indices(10), 1..3);
    assert_eq!(SceneRange::parse("4").unwrap().indices(10), 3..4);
    assert_eq!(SceneRange::parse("8-").unwrap().indices(10), 7..10);
    assert_eq!(SceneRange::parse("-2").unwrap().indices(10), 0..2);
    assert_eq!(SceneRange::parse("5-20").unwrap().indices(6), 4..6);
    for bad in ["", "0", "3-1", "a-b", "1-2-3"] {
        assert!(SceneRange::parse(bad).is_err(), "{bad}");
    }
}

mod properties {
    use previz_breakdown::plan::{PlannedShot, ShotPlan};
    use previz_breakdown::scene::SceneInput;
    use previz_breakdown::validate::{repair, validate};
    use previz_core::{CameraAngle, CameraMovement, ShotSize};
    use proptest::prelude::*;

    fn shot() -> impl Strategy<Value = PlannedShot> {
        (
            0..ShotSize::ALL.len(),
            0..CameraAngle::ALL.len(),
            0..CameraMovement::ALL.len(),
            0u32..300,
            prop_oneof![
                Just(String::new()),
                Just("MARA".to_owned()),
                Just("NOBODY".to_owned()),
                "[a-zA-Z ]{0,20}"
            ],
            "[a-z ]{0,30}",
            prop::collection::vec(0u32..12, 0..6),
            prop_oneof![Just(f64::NAN), Just(f64::INFINITY), -5.0f64..100.0],
            "[a-z ]{0,30}",
        )
            .prop_map(
                |(s, a, m, lens_mm, subject, action, lines, duration_s, prompt)| PlannedShot {
                    size: ShotSize::ALL[s],
                    angle: CameraAngle::ALL[a],
                    movement: CameraMovement::ALL[m],
                    lens_mm,
                    subject,
                    action,
                    lines,
                    duration_s,
                    prompt,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn repair_always_yields_a_valid_plan(shots in prop::collection::vec(shot(), 0..8), which in 0usize..4) {
            let name = super::common::SAMPLES[which];
            let project = super::common::project(name);
            for index in 0..project.script.scenes.len().min(3) {
                let scene = SceneInput::new(&project, index).unwrap();
                let plan = ShotPlan { shots: shots.clone() };
                let _ = validate(&plan, &scene);
                let (fixed, _) = repair(plan, &scene);
                prop_assert!(validate(&fixed, &scene).is_empty(), "{:?}", validate(&fixed, &scene));
            }
        }
    }
}
