//! The LLM breakdown with the real SmolLM2-135M GGUF (fetched by models/fetch.py).
//!
//! Every scene of every sample screenplay, five seeds: the model's raw answer is a complete
//! document that an independent JSON-schema validator (the `jsonschema` crate) accepts against
//! the scene's schema; the same seed gives the same answer; and the driver lands a plan that
//! validates against the scene.

mod common;

use previz_breakdown::llm::LlmEngine;
use previz_breakdown::plan::json_schema_for;
use previz_breakdown::scene::SceneInput;
use previz_breakdown::validate::validate;
use previz_breakdown::{SceneStatus, breakdown_scene};
use previz_models::llm::generate::{LoadOptions, StopReason};

#[test]
fn every_sample_scene_gives_a_schema_valid_plan_for_five_seeds() {
    let Some(path) = common::smollm2() else { return };
    let ctx = common::ctx();
    let mut engine = LlmEngine::load("smollm2-135m-instruct", &path, &LoadOptions::default(), 1).unwrap();
    let mut scenes = 0;
    let mut tokens = 0usize;
    let mut reused = 0usize;
    let started = std::time::Instant::now();
    for name in common::SAMPLES {
        let project = common::project(name);
        for index in 0..project.script.scenes.len() {
            let scene = SceneInput::new(&project, index).unwrap();
            let schema = json_schema_for(scene.lines.len());
            let validator = jsonschema::validator_for(&schema).unwrap();
            let mut first_of_seed_1 = None;
            for seed in [1u64, 2, 3, 4, 5, 1] {
                engine.set_seed(seed);
                let g = engine.generate_plan_text(&scene, &ctx).unwrap();
                assert_eq!(g.stop, StopReason::Complete, "{name} scene {} seed {seed}: {}", index + 1, g.text);
                let value: serde_json::Value = serde_json::from_str(&g.text)
                    .unwrap_or_else(|e| panic!("{name} scene {} seed {seed}: {e}: {}", index + 1, g.text));
                let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
                assert!(errors.is_empty(), "{name} scene {} seed {seed}: {errors:?}\n{}", index + 1, g.text);
                tokens += g.tokens.len();
                reused += g.reused_tokens;
                if seed == 1 {
                    match &first_of_seed_1 {
                        None => first_of_seed_1 = Some(g.text.clone()),
                        Some(first) => assert_eq!(first, &g.text, "{name} scene {}: seed 1 twice", index + 1),
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
fn the_driver_lands_validated_llm_plans() {
    let Some(path) = common::smollm2() else { return };
    let ctx = common::ctx();
    let mut engine = LlmEngine::load("smollm2-135m-instruct", &path, &LoadOptions::default(), 7).unwrap();
    let mut project = common::project("short-action.fountain");
    for index in 0..project.script.scenes.len() {
        let outcome = breakdown_scene(&project, index, &mut engine, false, &ctx).unwrap();
        let SceneStatus::Planned { shots, .. } = outcome.status else { panic!("{:?}", outcome.status) };
        assert!(shots >= 1);
        project.apply(&outcome.command.unwrap()).unwrap();
        let scene = SceneInput::new(&project, index).unwrap();
        let plan_shots: Vec<_> = project.shots_in_scene(project.script.scenes[index].id).collect();
        assert_eq!(plan_shots.len(), shots);
        for line in &scene.lines {
            assert!(plan_shots.iter().any(|s| s.dialogue.contains(&line.id)), "line uncovered");
        }
        assert!(plan_shots.iter().all(|s| s.extra["breakdown"]["key"]["engine"] == "llm"));
    }
    // Run again with the same seed: every scene is up to date.
    for index in 0..project.script.scenes.len() {
        let outcome = breakdown_scene(&project, index, &mut engine, false, &ctx).unwrap();
        assert!(matches!(outcome.status, SceneStatus::Skipped(_)));
    }
    let _ = validate;
}
