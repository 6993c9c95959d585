//! The rule-based breakdown on the sample screenplays, validation, repair and the driver.

use std::path::Path;

use previz_breakdown::engine::{RuleEngine, SceneEngine, SceneInput};
use previz_breakdown::plan::{self, PlannedShot, ScenePlan};
use previz_breakdown::run::{Provenance, timeline_command};
use previz_breakdown::validate::{Issue, repair, validate};
use previz_breakdown::{
    BreakdownError, BreakdownOptions, SceneSelection, SceneStatus, StylePreset, bible, rules,
    run_breakdown,
};
use previz_core::{CameraAngle, CameraMovement, EditCommand, Project, ShotField, ShotSize};
use previz_jobs::{CancelToken, JobContext, JobKind};
use previz_screenplay::Format;
use previz_screenplay::convert::to_script;
use proptest::prelude::*;

fn project(name: &str) -> Project {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/screenplays")
        .join(name);
    let bytes = std::fs::read(&path).unwrap();
    let parsed = Format::detect(Some(name), &bytes).parse(&bytes).unwrap();
    let mut project = Project::new(name);
    project.script = to_script(&parsed.screenplay);
    project
}

fn ctx() -> JobContext {
    JobContext::detached(JobKind::Breakdown, "test", CancelToken::new())
}

fn input(project: &Project, index: usize) -> SceneInput {
    SceneInput::new(
        project,
        index,
        &bible::derive(project),
        project.settings.style.clone(),
        0,
    )
}

const SAMPLES: &[&str] = &[
    "dialogue-heavy.fountain",
    "short-action.fountain",
    "every-feature.fountain",
    "short-action.fdx",
];

#[test]
fn rules_snapshots() {
    for name in SAMPLES {
        let p = project(name);
        let plans: Vec<(String, ScenePlan)> = (0..p.script.scenes.len())
            .map(|i| {
                (
                    p.script.scenes[i].heading.text.clone(),
                    rules::plan(&input(&p, i)),
                )
            })
            .collect();
        insta::assert_json_snapshot!(format!("rules-{name}"), plans);
    }
}

#[test]
fn bible_snapshot() {
    let p = project("dialogue-heavy.fountain");
    let b = bible::derive(&p);
    assert_eq!(b["JONAH"].age, "60s");
    assert_eq!(b["JONAH"].wardrobe, "cardigan");
    assert_eq!(b["TESS"].age, "20s");
    insta::assert_json_snapshot!("bible-dialogue-heavy", b);
}

#[test]
fn rules_plans_validate_on_every_sample_and_are_deterministic() {
    for name in SAMPLES {
        let p = project(name);
        for i in 0..p.script.scenes.len() {
            let inp = input(&p, i);
            let plan = rules::plan(&inp);
            assert_eq!(validate(&plan, &inp), vec![], "{name} scene {}", i + 1);
            assert_eq!(plan, rules::plan(&inp));
            assert!(!plan.shots.is_empty() && plan.shots.len() <= plan::MAX_SHOTS);
            for s in &plan.shots {
                assert!(
                    s.prompt
                        .ends_with(StylePreset::PencilStoryboard.prompt_text()),
                    "{}",
                    s.prompt
                );
            }
        }
    }
}

#[test]
fn dialogue_coverage_alternates_and_establishes() {
    let p = project("dialogue-heavy.fountain");
    let plan = rules::plan(&input(&p, 0));
    assert_eq!(
        plan.shots[0].size,
        ShotSize::Wide,
        "establishing shot first"
    );
    assert!(
        plan.shots
            .iter()
            .any(|s| s.angle == CameraAngle::OverTheShoulder)
    );
    assert!(
        plan.shots.iter().any(|s| s.subject.contains(" and ")),
        "a two-shot master"
    );
}

fn sample_shot(lines: Vec<u32>, subject: &str, duration_s: f64) -> PlannedShot {
    PlannedShot {
        size: ShotSize::Medium,
        angle: CameraAngle::EyeLevel,
        movement: CameraMovement::Static,
        lens_mm: 50,
        subject: subject.into(),
        action: String::new(),
        lines,
        duration_s,
        prompt: String::new(),
    }
}

#[test]
fn validation_names_each_problem() {
    let p = project("dialogue-heavy.fountain");
    let inp = input(&p, 0);
    let n = u32::try_from(inp.lines.len()).unwrap();
    assert_eq!(
        validate(&ScenePlan { shots: vec![] }, &inp)[0],
        Issue::EmptyPlan
    );
    let plan = ScenePlan {
        shots: vec![
            sample_shot(vec![1, n + 5], "TESS", 0.5),
            sample_shot(vec![], "the letter", 59.0),
            sample_shot(vec![], "MARA", 3.0),
        ],
    };
    let issues = validate(&plan, &inp);
    assert!(issues.contains(&Issue::LineOutOfRange {
        shot: 0,
        line: n + 5,
        lines: inp.lines.len()
    }));
    assert!(
        issues
            .iter()
            .any(|i| matches!(i, Issue::TooShort { shot: 0, .. }))
    );
    assert!(
        issues
            .iter()
            .any(|i| matches!(i, Issue::TooLong { shot: 1, .. }))
    );
    assert!(issues.contains(&Issue::UnknownCharacter {
        shot: 2,
        name: "MARA".into()
    }));
    assert!(issues.contains(&Issue::LineUncovered {
        line: 2,
        speaker: "JONAH".into()
    }));
    assert!(
        !issues
            .iter()
            .any(|i| matches!(i, Issue::UnknownCharacter { shot: 1, .. })),
        "objects are fine"
    );
    assert!(issues.iter().all(|i| !i.to_string().is_empty()));
    let (fixed, report) = repair(&plan, &inp);
    assert_eq!(validate(&fixed, &inp), vec![]);
    assert!(report.fell_back(), "MARA's shot falls back");
}

fn arb_shot() -> impl Strategy<Value = PlannedShot> {
    (
        prop::sample::select(ShotSize::ALL.to_vec()),
        prop::sample::select(CameraAngle::ALL.to_vec()),
        prop::sample::select(CameraMovement::ALL.to_vec()),
        0u32..300,
        prop::sample::select(vec![
            "TESS",
            "JONAH and TESS",
            "MARA",
            "",
            "the folder",
            "Jonah's hand",
            "RADIO",
            "x".repeat(80).leak(),
        ]),
        ".{0,200}",
        prop::collection::vec(0u32..120, 0..25),
        prop_oneof![-5.0f64..100.0, Just(f64::NAN), Just(f64::INFINITY)],
    )
        .prop_map(
            |(size, angle, movement, lens_mm, subject, action, lines, duration_s)| PlannedShot {
                size,
                angle,
                movement,
                lens_mm,
                subject: subject.to_owned(),
                prompt: action.clone(),
                action,
                lines,
                duration_s,
            },
        )
}

proptest! {
    #[test]
    fn repair_always_yields_a_valid_plan(shots in prop::collection::vec(arb_shot(), 0..16), scene in 0usize..3) {
        let p = project("dialogue-heavy.fountain");
        let scene = scene.min(p.script.scenes.len() - 1);
        let inp = input(&p, scene);
        let plan = ScenePlan { shots };
        let _ = validate(&plan, &inp);
        let (fixed, _) = repair(&plan, &inp);
        prop_assert_eq!(validate(&fixed, &inp), vec![]);
    }
}

fn run_all(p: &mut Project, options: &BreakdownOptions) -> Vec<SceneStatus> {
    let mut statuses = Vec::new();
    let mut commands = Vec::new();
    let summary = run_breakdown(p, &mut RuleEngine, options, &ctx(), |o| {
        statuses.push(o.status.clone());
        if let Some(c) = o.command {
            commands.push(c);
        }
    });
    for c in &commands {
        p.apply(c).unwrap();
    }
    p.apply(&timeline_command(p)).unwrap();
    assert!(p.validate().is_empty(), "{:?}", p.validate());
    assert!(!summary.cancelled);
    statuses
}

#[test]
fn driver_lands_shots_resumes_and_never_replaces_hand_work() {
    let mut p = project("dialogue-heavy.fountain");
    let scenes = p.script.scenes.len();
    let first = run_all(&mut p, &BreakdownOptions::default());
    assert!(
        first.iter().all(|s| *s == SceneStatus::Planned),
        "{first:?}"
    );
    assert!(p.shots.iter().all(|s| Provenance::of(s).is_some()));
    // Every speech is on a shot.
    for scene in &p.script.scenes {
        for d in scene.dialogue() {
            assert!(p.shots.iter().any(|s| s.dialogue.contains(&d.id)));
        }
    }
    assert!(!p.timeline.tracks.is_empty());
    let shots_before = p.shots.clone();
    // Again: all skipped, nothing changes.
    let again = run_all(&mut p, &BreakdownOptions::default());
    assert_eq!(again, vec![SceneStatus::Skipped; scenes]);
    assert_eq!(p.shots, shots_before);
    // A hand edit protects its scene, even with force.
    let edited = p.shots[0].id;
    p.apply(&EditCommand::EditShot {
        shot: edited,
        field: ShotField::Notes("mine".into()),
    })
    .unwrap();
    let forced = run_all(
        &mut p,
        &BreakdownOptions {
            force: true,
            ..BreakdownOptions::default()
        },
    );
    assert_eq!(forced[0], SceneStatus::Kept);
    assert!(p.shot(edited).is_some());
    // A different seed redoes the others.
    let reseeded = run_all(
        &mut p,
        &BreakdownOptions {
            seed: 7,
            ..BreakdownOptions::default()
        },
    );
    assert!(reseeded[1..].iter().all(|s| *s == SceneStatus::Planned));
}

#[test]
fn selection_touches_only_its_scenes_and_cancellation_stops_between_scenes() {
    let mut p = project("short-action.fountain");
    let options = BreakdownOptions {
        scenes: "2-3".parse().unwrap(),
        ..BreakdownOptions::default()
    };
    run_all(&mut p, &options);
    let ids: Vec<_> = p.script.scenes.iter().map(|s| s.id).collect();
    for (i, id) in ids.iter().enumerate() {
        let has = p.shots_in_scene(*id).next().is_some();
        assert_eq!(has, (1..=2).contains(&i), "scene {}", i + 1);
    }
    let token = CancelToken::new();
    let ctx = JobContext::detached(JobKind::Breakdown, "t", token.clone());
    let mut seen = 0;
    let summary = run_breakdown(
        &project("short-action.fountain"),
        &mut RuleEngine,
        &BreakdownOptions::default(),
        &ctx,
        |_| {
            seen += 1;
            token.cancel();
        },
    );
    assert!(summary.cancelled);
    assert_eq!(seen, 1);
}

#[test]
fn scene_ranges_parse() {
    assert_eq!(
        "all".parse::<SceneSelection>().unwrap(),
        SceneSelection::All
    );
    assert_eq!(
        "2-5".parse::<SceneSelection>().unwrap(),
        SceneSelection::Range {
            first: 2,
            last: Some(5)
        }
    );
    assert_eq!(
        "4-".parse::<SceneSelection>().unwrap(),
        SceneSelection::Range {
            first: 4,
            last: None
        }
    );
    assert_eq!(
        "3".parse::<SceneSelection>().unwrap(),
        SceneSelection::Range {
            first: 3,
            last: Some(3)
        }
    );
    for bad in ["0", "5-2", "x", ""] {
        assert!(
            matches!(
                bad.parse::<SceneSelection>(),
                Err(BreakdownError::BadSelection { .. })
            ),
            "{bad}"
        );
    }
}

struct Broken;
impl SceneEngine for Broken {
    fn name(&self) -> String {
        "broken".into()
    }
    fn plan_scene(
        &mut self,
        input: &SceneInput,
        _: &JobContext,
    ) -> Result<ScenePlan, BreakdownError> {
        if input.index == 1 {
            return Err(BreakdownError::Engine {
                engine: "broken".into(),
                scene: 1,
                message: "no".into(),
            });
        }
        Ok(ScenePlan {
            shots: vec![sample_shot(vec![], "NOBODY", 3.0)],
        })
    }
}

#[test]
fn a_failing_engine_falls_back_per_scene() {
    let p = project("dialogue-heavy.fountain");
    let mut statuses = Vec::new();
    let summary = run_breakdown(&p, &mut Broken, &BreakdownOptions::default(), &ctx(), |o| {
        statuses.push(o.status);
    });
    assert!(
        statuses.iter().all(|s| *s == SceneStatus::FellBack),
        "{statuses:?}"
    );
    assert_eq!(summary.fell_back, p.script.scenes.len());
}

#[test]
fn the_bible_fills_only_empty_fields_and_lands_as_one_batch() {
    let mut p = project("dialogue-heavy.fountain");
    let jonah = p
        .script
        .characters
        .iter()
        .position(|c| c.name == "JONAH")
        .unwrap();
    p.script.characters[jonah].age = "about seventy".into();
    let command = bible::fill_command(&p).unwrap();
    assert_eq!(command.label(), "Character bible from the script");
    p.apply(&command).unwrap();
    assert_eq!(
        p.script.characters[jonah].age, "about seventy",
        "the user's value wins"
    );
    assert_eq!(p.script.characters[jonah].wardrobe, "cardigan");
    assert!(
        p.script
            .locations
            .iter()
            .any(|l| l.description.starts_with("Long tables, green lamps"))
    );
    assert!(bible::fill_command(&p).is_none(), "nothing left to fill");
}

#[test]
fn the_style_ends_every_prompt() {
    let mut p = project("short-action.fountain");
    p.settings.style = previz_core::Style::Custom("charcoal on brown paper".into());
    let plan = rules::plan(&input(&p, 0));
    assert!(
        plan.shots
            .iter()
            .all(|s| s.prompt.ends_with("charcoal on brown paper"))
    );
}

#[test]
fn the_rough_cut_masters_of_an_import_are_replaced_not_kept() {
    let mut p = project("dialogue-heavy.fountain");
    let cut = previz_core::roughcut::rough_cut(&p);
    p.apply(&cut).unwrap();
    let masters = p.shots.len();
    assert!(masters > 0);
    let statuses = run_all(&mut p, &BreakdownOptions::default());
    assert!(
        statuses.iter().all(|s| *s != SceneStatus::Kept),
        "{statuses:?}"
    );
    assert!(
        p.shots
            .iter()
            .all(|s| s.notes != "Master shot from the rough cut")
    );
    // An edited master is the user's: its scene is kept.
    let mut q = project("dialogue-heavy.fountain");
    q.apply(&previz_core::roughcut::rough_cut(&q)).unwrap();
    let first = q.shots[0].id;
    q.apply(&EditCommand::EditShot {
        shot: first,
        field: ShotField::Subject("mine".into()),
    })
    .unwrap();
    let statuses = run_all(&mut q, &BreakdownOptions::default());
    assert_eq!(statuses[0], SceneStatus::Kept);
    assert!(q.shots.iter().any(|s| s.id == first && s.subject == "mine"));
}
