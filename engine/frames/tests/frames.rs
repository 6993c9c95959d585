//! Shots to frames over a real screenplay: the sketch with no model installed, and a tiny
//! diffusion model of the real architecture through the real loader (issue #6).

use std::path::PathBuf;

use previz_core::EditCommand;
use previz_core::project::Project;
use previz_core::script::CharacterField;
use previz_core::shot::{ShotField, ShotSize};
use previz_frames::{
    DiffusionEngine, FrameEngine, FramesOptions, frame_inputs, frame_up_to_date, run_frames,
    shot_prompt,
};
use previz_jobs::{CancelToken, JobContext, JobKind};
use previz_models::diffusion::LoadOptions;
use previz_models::diffusion::tiny::{TinySpec, write_tiny_model};
use previz_storage::AssetStore;

fn project() -> Project {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/screenplays/dialogue-heavy.fountain");
    let bytes = std::fs::read(&path).unwrap();
    let format = previz_screenplay::Format::detect(Some("dialogue-heavy.fountain"), &bytes);
    let parsed = format.parse(&bytes).unwrap();
    let mut project = Project::new("Night Shift");
    project.script = previz_screenplay::convert::to_script(&parsed.screenplay);
    let cut = previz_core::roughcut::rough_cut(&project);
    project.apply(&cut).unwrap();
    project
}

fn ctx() -> JobContext {
    JobContext::detached(JobKind::Frames, "test", CancelToken::new())
}

fn first_character(p: &Project) -> (previz_core::ids::CharacterId, String) {
    let c = &p.script.characters[0];
    (c.id, c.name.clone())
}

#[test]
fn the_prompt_is_style_bible_and_shot_fields_composed_at_draw_time() {
    let mut p = project();
    let (cid, name) = first_character(&p);
    let shot = p.shots[0].id;
    p.apply(&EditCommand::EditCharacter {
        character: cid,
        field: CharacterField::Appearance("tall, grey stubble".into()),
    })
    .unwrap();
    p.apply(&EditCommand::EditShot {
        shot,
        field: ShotField::Subject(name.clone()),
    })
    .unwrap();
    p.apply(&EditCommand::EditShot {
        shot,
        field: ShotField::Prompt(String::new()),
    })
    .unwrap();
    p.apply(&EditCommand::EditShot {
        shot,
        field: ShotField::Size(Some(ShotSize::CloseUp)),
    })
    .unwrap();
    let sp = shot_prompt(&p, p.shot(shot).unwrap());
    assert!(sp.prompt.contains("close up shot of"), "{}", sp.prompt);
    assert!(
        sp.prompt.contains("tall, grey stubble"),
        "bible words: {}",
        sp.prompt
    );
    assert!(
        sp.prompt.ends_with(p.settings.style.prompt_text()),
        "style last: {}",
        sp.prompt
    );
    assert_eq!(sp.characters, vec![cid]);
    // Changing the style changes the next prompt without touching the shot.
    p.settings.style = previz_core::Style::Noir;
    let noir = shot_prompt(&p, p.shot(shot).unwrap());
    assert!(
        noir.prompt.ends_with("hard shadows") && !noir.prompt.contains("graphite"),
        "{}",
        noir.prompt
    );
}

#[test]
fn with_no_model_every_shot_gets_a_sketch_take_in_one_undo_step() {
    let mut p = project();
    let dir = tempfile::tempdir().unwrap();
    let store = AssetStore::new(dir.path().join("assets"));
    let n = p.shots.len();
    assert!(n > 0);
    let mut outcomes = Vec::new();
    let (batch, summary) = run_frames(
        &p,
        &FrameEngine::Sketch,
        &store,
        &FramesOptions::default(),
        &ctx(),
        |o| outcomes.push(o.clone()),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(summary.shots_drawn, n);
    assert_eq!(summary.takes, n);
    assert_eq!(outcomes.len(), n);
    let batch = batch.unwrap();
    let before = p.clone();
    let mut history = previz_core::history::History::new();
    history.apply(&mut p, &batch).unwrap();
    for shot in &p.shots {
        let take = shot.active().expect("every shot has an active take");
        assert_eq!(take.provenance.generator, "sketch");
        let asset = &p.assets[&take.asset];
        assert_eq!(asset.media.mime, "image/png");
        // The project's 2.39:1 frame.
        let (w, h) = (asset.media.width.unwrap(), asset.media.height.unwrap());
        assert!((f64::from(w) / f64::from(h) - 2.39).abs() < 0.02, "{w}x{h}");
        let png = image::load_from_memory(&store.read(&take.asset).unwrap()).unwrap();
        assert_eq!((png.width(), png.height()), (w, h));
    }
    // Run again: everything up to date.
    let (again, s2) = run_frames(
        &p,
        &FrameEngine::Sketch,
        &store,
        &FramesOptions::default(),
        &ctx(),
        |_| {},
        |_, _| {},
    )
    .unwrap();
    assert!(again.is_none());
    assert_eq!(s2.kept, n);
    // One undo step takes every frame back out.
    history.undo(&mut p).unwrap();
    assert_eq!(p.shots, before.shots);
    assert!(p.shots.iter().all(|s| s.takes.is_empty()));
}

#[test]
fn a_diffusion_model_makes_takes_with_full_provenance_and_variations_from_the_active_take() {
    let mut p = project();
    // Small frames keep the tiny model fast: 2:1 at 64 px native.
    p.settings.frame_width = 128;
    p.settings.frame_height = 64;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tiny-sd");
    write_tiny_model(&root, &TinySpec::default()).unwrap();
    let mut engine = DiffusionEngine::load("tiny-sd", &root, &LoadOptions::default()).unwrap();
    engine.steps = 2;
    let engine = FrameEngine::Diffusion(Box::new(engine));
    let store = AssetStore::new(dir.path().join("assets"));
    let shots = vec![p.shots[0].id, p.shots[1].id];
    let options = FramesOptions {
        shots: Some(shots.clone()),
        takes: 2,
        seed: 11,
        ..FramesOptions::default()
    };
    let mut steps = 0;
    let mut previews = 0;
    let (batch, summary) = run_frames(
        &p,
        &engine,
        &store,
        &options,
        &ctx(),
        |_| {},
        |s, preview| {
            steps += 1;
            assert!(s.step >= 1 && s.step <= s.steps);
            if preview.is_some() {
                previews += 1;
            }
        },
    )
    .unwrap();
    assert_eq!((summary.shots_drawn, summary.takes), (2, 4));
    assert_eq!(
        (steps, previews),
        (8, 8),
        "2 shots x 2 takes x 2 steps, each with a preview"
    );
    let untouched = p.clone();
    p.apply(&batch.unwrap()).unwrap();
    let shot = p.shot(shots[0]).unwrap();
    assert_eq!(shot.takes.len(), 2);
    let t = shot.active().unwrap().clone();
    assert_eq!(t.id, shot.takes[0].id, "the first new take is active");
    let pr = &t.provenance;
    assert_eq!(pr.generator, "diffusion");
    assert_eq!(pr.model_id.as_deref(), Some("tiny-sd"));
    assert_eq!(pr.model_hash.as_ref().map(String::len), Some(64));
    assert_eq!(pr.steps, Some(2));
    assert_eq!(pr.scheduler.as_deref(), Some("euler_a"));
    assert_eq!(pr.guidance, Some(7.5));
    assert!(!pr.prompt.is_empty() && !pr.negative_prompt.is_empty());
    assert_ne!(shot.takes[0].provenance.seed, shot.takes[1].provenance.seed);
    assert_ne!(
        shot.takes[0].asset, shot.takes[1].asset,
        "two takes, two pictures"
    );
    let asset = &p.assets[&t.asset];
    assert_eq!(
        (asset.media.width, asset.media.height),
        (Some(88), Some(48)),
        "2:1 at about 64x64 area, multiples of 8"
    );

    // Same seed, same picture: the content address repeats.
    let mut q = untouched;
    let (b2, _) = run_frames(&q, &engine, &store, &options, &ctx(), |_| {}, |_, _| {}).unwrap();
    q.apply(&b2.unwrap()).unwrap();
    assert_eq!(q.shot(shots[0]).unwrap().takes[0].asset, t.asset);

    // A variation from the active take (img2img) records where it came from.
    let vary = FramesOptions {
        shots: Some(vec![shots[0]]),
        takes: 1,
        seed: 99,
        from_active: Some(0.5),
        ..FramesOptions::default()
    };
    let (b3, s3) = run_frames(&p, &engine, &store, &vary, &ctx(), |_| {}, |_, _| {}).unwrap();
    assert_eq!(s3.takes, 1);
    p.apply(&b3.unwrap()).unwrap();
    let shot = p.shot(shots[0]).unwrap();
    assert_eq!(shot.takes.len(), 3);
    let v = shot.active().unwrap();
    assert_eq!(
        v.provenance
            .extra
            .get("img2img_strength")
            .and_then(serde_json::Value::as_f64),
        Some(0.5)
    );
    assert_eq!(
        v.provenance
            .extra
            .get("img2img_from")
            .and_then(|x| x.as_str()),
        Some(t.asset.to_string().as_str())
    );
}

#[test]
fn cancelling_keeps_the_shots_already_drawn() {
    let mut p = project();
    p.settings.frame_width = 128;
    p.settings.frame_height = 64;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tiny-sd");
    write_tiny_model(&root, &TinySpec::default()).unwrap();
    let mut engine = DiffusionEngine::load("tiny-sd", &root, &LoadOptions::default()).unwrap();
    engine.steps = 3;
    let engine = FrameEngine::Diffusion(Box::new(engine));
    let store = AssetStore::new(dir.path().join("assets"));
    let token = CancelToken::new();
    let ctx = JobContext::detached(JobKind::Frames, "test", token.clone());
    let (batch, summary) = run_frames(
        &p,
        &engine,
        &store,
        &FramesOptions::default(),
        &ctx,
        |_| {},
        |s, _| {
            if s.shot_index == 1 && s.step == 2 {
                token.cancel();
            }
        },
    )
    .unwrap();
    assert!(summary.cancelled);
    assert_eq!(
        summary.shots_drawn, 1,
        "the first shot landed, the second was stopped mid-way"
    );
    p.apply(&batch.unwrap()).unwrap();
    assert!(p.shots[0].active().is_some());
    assert!(p.shots[1].active().is_none());
}

/// Loads go through a model pool: the second job reuses the model the first loaded, and a
/// budget too small for two models evicts the one no job holds.
#[test]
fn jobs_share_loaded_models_and_the_pool_evicts_what_no_job_holds() {
    use previz_models::diffusion::DiffusionModel;
    use previz_models::pool::ModelPool;
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("tiny-a");
    let b = dir.path().join("tiny-b");
    write_tiny_model(&a, &TinySpec::default()).unwrap();
    write_tiny_model(
        &b,
        &TinySpec {
            seed: 99,
            ..TinySpec::default()
        },
    )
    .unwrap();
    let size = DiffusionModel::estimate_bytes(&a, Default::default()).unwrap();
    assert!(size > 100_000, "{size} bytes");
    let pool = ModelPool::new(size * 3 / 2);
    let first = DiffusionEngine::load_in(&pool, "tiny-a", &a, &LoadOptions::default()).unwrap();
    let again = DiffusionEngine::load_in(&pool, "tiny-a", &a, &LoadOptions::default()).unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&first.model, &again.model),
        "not reloaded"
    );
    assert_eq!(first.hash, again.hash);
    // Both jobs still hold tiny-a: there is no room for tiny-b, and the error says why.
    let e = DiffusionEngine::load_in(&pool, "tiny-b", &b, &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("in use"), "{e}");
    drop((first, again));
    let other = DiffusionEngine::load_in(&pool, "tiny-b", &b, &LoadOptions::default()).unwrap();
    assert_ne!(other.hash, "");
    let held = pool.resident();
    assert_eq!(held.len(), 1, "tiny-a was evicted: {held:?}");
    assert!(held[0].key.path.ends_with("tiny-b") && held[0].in_use);
}

/// A LoRA in the kohya naming over the tiny model's first attention `to_q`.
fn write_character_lora(path: &std::path::Path) {
    use candle_core::{Device, Tensor};
    let dim = 32;
    let ramp = |n: usize, k: f32| {
        (0..n)
            .map(|i| ((i as f32 * 0.37 + k).sin()) * 0.5)
            .collect::<Vec<f32>>()
    };
    let key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
    let mut t = std::collections::HashMap::new();
    t.insert(
        format!("{key}.lora_down.weight"),
        Tensor::from_vec(ramp(2 * dim, 1.0), (2, dim), &Device::Cpu).unwrap(),
    );
    t.insert(
        format!("{key}.lora_up.weight"),
        Tensor::from_vec(ramp(dim * 2, 2.0), (dim, 2), &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&t, path).unwrap();
}

/// A character's look (a LoRA trained on them, with trigger words) is merged only for the
/// shots that show them: their takes record the LoRA, the others are drawn by the base model;
/// relative LoRA paths are the project folder's; a missing file names itself.
#[test]
fn a_characters_lora_is_merged_only_for_the_shots_that_show_them() {
    use previz_core::script::CharacterLook;
    let mut p = project();
    let (cid, name) = first_character(&p);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tiny-sd");
    write_tiny_model(&root, &TinySpec::default()).unwrap();
    write_character_lora(&dir.path().join("mara-look.safetensors"));
    let (with, without) = (p.shots[0].id, p.shots[1].id);
    for (shot, subject) in [
        (with, name.clone()),
        (without, "the empty corridor".to_owned()),
    ] {
        p.apply(&EditCommand::EditShot {
            shot,
            field: ShotField::Subject(subject),
        })
        .unwrap();
    }
    let look = CharacterLook {
        lora: "mara-look.safetensors".into(),
        scale_percent: 80,
        trigger: "m4ra woman".into(),
        ..CharacterLook::new("")
    };
    p.apply(&EditCommand::EditCharacter {
        character: cid,
        field: CharacterField::Look(Some(look)),
    })
    .unwrap();
    let prompt = shot_prompt(&p, p.shot(with).unwrap());
    assert!(prompt.prompt.contains("m4ra woman"), "{}", prompt.prompt);
    assert_eq!(prompt.looks.len(), 1);

    let mut engine = DiffusionEngine::load("tiny-sd", &root, &LoadOptions::default()).unwrap();
    engine.steps = 2;
    let base_hash = engine.hash.clone();
    let engine = FrameEngine::Diffusion(Box::new(engine));
    let store = AssetStore::new(dir.path().join("assets"));
    let options = FramesOptions {
        shots: Some(vec![with, without]),
        takes: 1,
        seed: 5,
        ..FramesOptions::default()
    };
    let (batch, summary) =
        run_frames(&p, &engine, &store, &options, &ctx(), |_| {}, |_, _| {}).unwrap();
    assert_eq!(summary.takes, 2);
    let mut drawn = p.clone();
    drawn.apply(&batch.unwrap()).unwrap();
    let take = |shot| drawn.shot(shot).unwrap().active().unwrap().clone();
    let (a, b) = (take(with), take(without));
    assert_eq!(
        a.provenance.extra["loras"],
        serde_json::json!([{"file": "mara-look.safetensors", "scale": 0.8}])
    );
    assert_ne!(a.provenance.model_hash.as_deref(), Some(base_hash.as_str()));
    assert!(!b.provenance.extra.contains_key("loras"));
    assert_eq!(b.provenance.model_hash.as_deref(), Some(base_hash.as_str()));

    // Up to date on a second run; a stronger look redraws that shot only.
    let (batch, summary) =
        run_frames(&drawn, &engine, &store, &options, &ctx(), |_| {}, |_, _| {}).unwrap();
    assert!(batch.is_none() && summary.kept == 2);
    drawn
        .apply(&EditCommand::EditCharacter {
            character: cid,
            field: CharacterField::Look(Some(CharacterLook {
                lora: "mara-look.safetensors".into(),
                scale_percent: 100,
                trigger: "m4ra woman".into(),
                ..CharacterLook::new("")
            })),
        })
        .unwrap();
    let (_, summary) =
        run_frames(&drawn, &engine, &store, &options, &ctx(), |_| {}, |_, _| {}).unwrap();
    assert_eq!((summary.shots_drawn, summary.kept), (1, 1));

    // A look whose file is gone is one clear error naming it.
    drawn
        .apply(&EditCommand::EditCharacter {
            character: cid,
            field: CharacterField::Look(Some(CharacterLook::new("gone.safetensors"))),
        })
        .unwrap();
    let e = run_frames(&drawn, &engine, &store, &options, &ctx(), |_| {}, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gone.safetensors") && e.contains("missing"),
        "{e}"
    );
}

/// A character's reference picture is shown to the model through the IP-Adapter only for the
/// shots that show them: their takes record the adapter, the picture's hash and the strength,
/// the others are drawn exactly as without it; a changed picture redraws only their shots; no
/// adapter set is one clear error saying how to set one.
#[test]
fn a_characters_reference_picture_steers_only_the_shots_that_show_them() {
    use previz_core::script::CharacterLook;
    use previz_models::diffusion::tiny::{test_picture, write_tiny_ip_adapter};
    let mut p = project();
    let (cid, name) = first_character(&p);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tiny-sd");
    write_tiny_model(&root, &TinySpec::default()).unwrap();
    let adapter = write_tiny_ip_adapter(&dir.path().join("ip"), &root, 3).unwrap();
    let picture = dir.path().join("looks/mara.png");
    std::fs::create_dir_all(picture.parent().unwrap()).unwrap();
    let save = |seed: u64| {
        let img = test_picture(40, 48, seed);
        image::RgbImage::from_raw(img.width, img.height, img.pixels)
            .unwrap()
            .save(&picture)
            .unwrap();
    };
    save(1);
    let (with, without) = (p.shots[0].id, p.shots[1].id);
    for (shot, subject) in [
        (with, name.clone()),
        (without, "the empty corridor".to_owned()),
    ] {
        p.apply(&EditCommand::EditShot {
            shot,
            field: ShotField::Subject(subject),
        })
        .unwrap();
    }
    let store = AssetStore::new(dir.path().join("assets"));
    let options = FramesOptions {
        shots: Some(vec![with, without]),
        takes: 1,
        seed: 5,
        ..FramesOptions::default()
    };
    let mut engine = DiffusionEngine::load("tiny-sd", &root, &LoadOptions::default()).unwrap();
    engine.steps = 2;
    // Without the look: the pictures both shots get when nobody has a reference.
    let plain_engine = FrameEngine::Diffusion(Box::new(engine));
    let (batch, _) = run_frames(
        &p,
        &plain_engine,
        &store,
        &options,
        &ctx(),
        |_| {},
        |_, _| {},
    )
    .unwrap();
    let mut plain = p.clone();
    plain.apply(&batch.unwrap()).unwrap();

    p.apply(&EditCommand::EditCharacter {
        character: cid,
        field: CharacterField::Look(Some(CharacterLook::reference("looks/mara.png"))),
    })
    .unwrap();
    // No adapter set: one clear error that says how to set one.
    let e = run_frames(
        &p,
        &plain_engine,
        &store,
        &options,
        &ctx(),
        |_| {},
        |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("mara.png") && e.contains("ip_adapter"), "{e}");

    let FrameEngine::Diffusion(mut engine) = plain_engine else {
        unreachable!()
    };
    engine.set_ip_adapter(&adapter).unwrap();
    let engine = FrameEngine::Diffusion(engine);
    let inputs = frame_inputs(&p, &engine, with, &options, &store)
        .unwrap()
        .unwrap();
    assert_eq!(inputs["reference"]["pictures"][0]["file"], "mara.png");
    let (batch, summary) =
        run_frames(&p, &engine, &store, &options, &ctx(), |_| {}, |_, _| {}).unwrap();
    assert_eq!(summary.takes, 2);
    let mut drawn = p.clone();
    drawn.apply(&batch.unwrap()).unwrap();
    let take = |doc: &Project, shot| doc.shot(shot).unwrap().active().unwrap().clone();
    let reference = &take(&drawn, with).provenance.extra["reference"];
    assert_eq!(reference["adapter"], "ip-adapter.safetensors");
    assert_eq!(reference["scale"], serde_json::json!(0.6));
    assert_eq!(reference["pictures"][0]["file"], "mara.png");
    assert_eq!(reference, &inputs["reference"]);
    assert!(
        !take(&drawn, without)
            .provenance
            .extra
            .contains_key("reference")
    );
    assert_ne!(
        take(&drawn, with).asset,
        take(&plain, with).asset,
        "the picture steers"
    );
    assert_eq!(
        take(&drawn, without).asset,
        take(&plain, without).asset,
        "a shot without the character is drawn as before"
    );

    // Up to date on a second run; another picture under the same name redraws that shot only.
    let (batch, summary) =
        run_frames(&drawn, &engine, &store, &options, &ctx(), |_| {}, |_, _| {}).unwrap();
    assert!(batch.is_none() && summary.kept == 2);
    save(2);
    assert!(!frame_up_to_date(&drawn, &engine, with, &options, &store).unwrap());
    let (_, summary) =
        run_frames(&drawn, &engine, &store, &options, &ctx(), |_| {}, |_, _| {}).unwrap();
    assert_eq!((summary.shots_drawn, summary.kept), (1, 1));
}
