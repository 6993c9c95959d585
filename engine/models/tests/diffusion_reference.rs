//! Our Stable Diffusion pipeline against diffusers on the same tiny model and the same noise.
//!
//! The reference pictures in tests/fixtures/diffusion/ were made once by
//! tests/diffusion/reference.py (run by hand; it needs torch, diffusers and transformers):
//!
//! ```text
//! PREVIZ_DIFFUSION_EXPORT=/tmp/sdref cargo test -p previz-models --test diffusion_reference
//! python3 tests/diffusion/reference.py /tmp/sdref engine/models/tests/fixtures/diffusion
//! ```
//!
//! The first command writes the tiny model (a pure function of its seed, so CI rebuilds the
//! same bytes), the noise each case draws, and the cases; the second runs diffusers' own
//! pipelines (StableDiffusionPipeline, StableDiffusionImg2ImgPipeline and their SDXL
//! counterparts, with DDIM, Euler ancestral and DPM-Solver++ 2M) with that noise and writes
//! their pictures. CI compares ours
//! with them: scheduler, guidance and img2img noise must compute what diffusers computes.

mod diffusion_fixtures;

use std::path::PathBuf;

use diffusion_fixtures::{assert_close, fixtures, read_png, save_noise, write_png};

use previz_models::diffusion::tiny::{TinySpec, write_tiny_model};
use previz_models::diffusion::{
    DiffusionModel, InitImage, LoadOptions, Request, RgbImage, SchedulerKind,
};

struct Case {
    name: &'static str,
    scheduler: SchedulerKind,
    steps: usize,
    guidance: f32,
    seed: u64,
    /// img2img strength from the `start` picture (the first case's output of the same model).
    strength: Option<f32>,
    /// The tiny SDXL-shaped model instead of the SD 1.x-shaped one.
    xl: bool,
    /// Empty: SDXL's pipeline zeroes the negative branch (`force_zeros_for_empty_prompt`).
    negative: &'static str,
    /// The SDXL model with SDXL-Turbo's schedule (`timestep_spacing: "trailing"`).
    turbo: bool,
    /// The SD model with 16 groups in its UNet's norms instead of 32.
    g16: bool,
}

const CASES: [Case; 10] = [
    Case {
        name: "txt2img-ddim",
        scheduler: SchedulerKind::Ddim,
        steps: 4,
        guidance: 7.5,
        seed: 1,
        strength: None,
        xl: false,
        negative: NEGATIVE,
        turbo: false,
        g16: false,
    },
    Case {
        name: "txt2img-euler-a",
        scheduler: SchedulerKind::EulerAncestral,
        steps: 4,
        guidance: 7.5,
        seed: 2,
        strength: None,
        xl: false,
        negative: NEGATIVE,
        turbo: false,
        g16: false,
    },
    Case {
        name: "txt2img-dpmpp-2m",
        scheduler: SchedulerKind::DpmPlusPlus2M,
        steps: 4,
        guidance: 7.5,
        seed: 3,
        strength: None,
        xl: false,
        negative: NEGATIVE,
        turbo: false,
        g16: false,
    },
    Case {
        name: "txt2img-no-guidance",
        scheduler: SchedulerKind::EulerAncestral,
        steps: 2,
        guidance: 0.0,
        seed: 4,
        strength: None,
        xl: false,
        negative: NEGATIVE,
        turbo: false,
        g16: false,
    },
    Case {
        name: "img2img-euler-a",
        scheduler: SchedulerKind::EulerAncestral,
        steps: 4,
        guidance: 7.5,
        seed: 5,
        strength: Some(0.5),
        xl: false,
        negative: NEGATIVE,
        turbo: false,
        g16: false,
    },
    Case {
        name: "xl-txt2img-euler-a-zero-negative",
        scheduler: SchedulerKind::EulerAncestral,
        steps: 4,
        guidance: 5.0,
        seed: 6,
        strength: None,
        xl: true,
        negative: "",
        turbo: false,
        g16: false,
    },
    Case {
        name: "xl-txt2img-ddim",
        scheduler: SchedulerKind::Ddim,
        steps: 4,
        guidance: 6.0,
        seed: 7,
        strength: None,
        xl: true,
        negative: NEGATIVE,
        turbo: false,
        g16: false,
    },
    Case {
        name: "xl-img2img-dpmpp-2m",
        scheduler: SchedulerKind::DpmPlusPlus2M,
        steps: 5,
        guidance: 6.0,
        seed: 8,
        strength: Some(0.6),
        xl: true,
        negative: NEGATIVE,
        turbo: false,
        g16: false,
    },
    // SDXL-Turbo's recipe: one Euler ancestral step from the last timestep, no guidance.
    Case {
        name: "xl-turbo-one-step",
        scheduler: SchedulerKind::EulerAncestral,
        steps: 1,
        guidance: 0.0,
        seed: 9,
        strength: None,
        xl: true,
        negative: "",
        turbo: true,
        g16: false,
    },
    Case {
        name: "txt2img-euler-a-16-groups",
        scheduler: SchedulerKind::EulerAncestral,
        steps: 3,
        guidance: 7.5,
        seed: 10,
        strength: None,
        xl: false,
        negative: NEGATIVE,
        turbo: false,
        g16: true,
    },
];

const PROMPT: &str = "the red door";
const NEGATIVE: &str = "blurry";

fn request(case: &Case, init: Option<&RgbImage>) -> Request {
    Request {
        prompt: PROMPT.into(),
        negative_prompt: case.negative.into(),
        width: 64,
        height: 64,
        steps: case.steps,
        guidance: case.guidance,
        scheduler: case.scheduler,
        seed: case.seed,
        init: case.strength.map(|strength| InitImage {
            image: init.expect("img2img starts from the first case").clone(),
            strength,
            mask: None,
        }),
        previews: false,
        reference: None,
    }
}

#[test]
fn our_pipeline_computes_what_diffusers_computes() {
    let export = std::env::var_os("PREVIZ_DIFFUSION_EXPORT").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let root = match &export {
        Some(dir) => dir.join("tiny-sd"),
        None => tmp.path().join("tiny-sd"),
    };
    write_tiny_model(&root, &TinySpec::default()).unwrap();
    let xl_root = root.with_file_name("tiny-sdxl");
    let xl_spec = TinySpec {
        xl: true,
        ..TinySpec::default()
    };
    write_tiny_model(&xl_root, &xl_spec).unwrap();
    let turbo_root = root.with_file_name("tiny-sdxl-turbo");
    write_tiny_model(&turbo_root, &xl_spec).unwrap();
    let schedule = turbo_root.join("scheduler/scheduler_config.json");
    let text = std::fs::read_to_string(&schedule).unwrap();
    std::fs::write(&schedule, text.replace("\"leading\"", "\"trailing\"")).unwrap();
    // The same weights with 16 groups in every UNet norm (the weights' shapes do not depend on
    // the group count; the statistics do).
    let g16_root = root.with_file_name("tiny-sd-g16");
    write_tiny_model(&g16_root, &TinySpec::default()).unwrap();
    let unet_config = g16_root.join("unet/config.json");
    let text = std::fs::read_to_string(&unet_config).unwrap();
    assert!(text.contains("\"norm_num_groups\": 32"));
    std::fs::write(
        &unet_config,
        text.replace("\"norm_num_groups\": 32", "\"norm_num_groups\": 16"),
    )
    .unwrap();
    let sd = DiffusionModel::load(&root, &LoadOptions::default()).unwrap();
    let g16 = DiffusionModel::load(&g16_root, &LoadOptions::default()).unwrap();
    let xl = DiffusionModel::load(&xl_root, &LoadOptions::default()).unwrap();
    let turbo = DiffusionModel::load(&turbo_root, &LoadOptions::default()).unwrap();
    let mut first: [Option<(RgbImage, &str)>; 2] = [None, None];
    let mut report = Vec::new();
    for case in &CASES {
        let model = match (case.xl, case.turbo) {
            (_, true) => &turbo,
            (true, false) => &xl,
            (false, false) if case.g16 => &g16,
            (false, false) => &sd,
        };
        let start = first[usize::from(case.xl)].as_ref();
        let ours = model
            .generate(&request(case, start.map(|s| &s.0)), None, &mut |_| {})
            .unwrap();
        if let Some(dir) = &export {
            // The noise this case draws, in order, for diffusers to use.
            save_noise(dir, case.name, case.seed, case.steps);
            write_png(&dir.join(format!("ours-{}.png", case.name)), &ours);
            let spec = serde_json::json!({
                "name": case.name, "scheduler": case.scheduler.as_str(), "steps": case.steps,
                "guidance": case.guidance, "strength": case.strength,
                "prompt": PROMPT, "negative_prompt": case.negative, "width": 64, "height": 64,
                "model": match (case.xl, case.turbo) {
                    (_, true) => "tiny-sdxl-turbo",
                    (true, false) => "tiny-sdxl",
                    (false, false) if case.g16 => "tiny-sd-g16",
                    (false, false) => "tiny-sd",
                },
                "init": start.filter(|_| case.strength.is_some()).map(|s| format!("ours-{}.png", s.1)),
            });
            report.push(spec);
        } else {
            let reference = read_png(&fixtures().join(format!("{}.png", case.name)));
            assert_close(case.name, &ours, &reference);
        }
        if first[usize::from(case.xl)].is_none() {
            first[usize::from(case.xl)] = Some((ours, case.name));
        }
    }
    if let Some(dir) = &export {
        std::fs::write(
            dir.join("cases.json"),
            serde_json::to_string_pretty(&report).unwrap(),
        )
        .unwrap();
    }
}
