//! One UNet step (batch 2: classifier-free guidance) and one VAE decode on a small
//! SD-shaped model, timed the way scripts/bench-diffusion.sh times diffusers on the same folder.
//! Prints JSON: {"unet_ms": .., "vae_ms": .., "config": ..}. No assertions: ratios are the
//! script's to print.
//!
//! `cargo bench -p previz-models --bench diffusion --profile dev -- DIR` writes the model into
//! DIR (default: target/bench-sd) and times it.

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use previz_models::diffusion::tiny::{TinySpec, write_tiny_model};
use previz_models::diffusion::unet::{Conditioning, Unet};
use previz_models::diffusion::{config, vae};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    f(); // warm-up
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

fn main() {
    // As the `previz` binary and the studio run (see `previz_models::memory`).
    previz_models::memory::keep_tensor_buffers();
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or_else(|| PathBuf::from("target/bench-sd"), PathBuf::from);
    let spec = TinySpec {
        seed: 11,
        unet_channels: vec![128, 256, 256],
        unet_heads: 8,
        vae_channels: vec![32, 64, 128, 128],
        clip_hidden: 256,
        clip_layers: 2,
        norm_groups: 32,
        prediction_type: "epsilon",
        xl: false,
    };
    write_tiny_model(&dir, &spec).expect("write the bench model");
    let dev = Device::Cpu;
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).expect("config");
    let uc = config::unet_config(&read("unet/config.json"), &dir).expect("unet config");
    let vb = VarBuilder::from_tensors(
        candle_core::safetensors::load(dir.join("unet/diffusion_pytorch_model.safetensors"), &dev)
            .expect("unet weights"),
        DType::F32,
        &dev,
    );
    let unet = Unet::new(&vb, &uc).expect("unet");
    let vc = config::vae_config(&read("vae/config.json"), &dir).expect("vae config");
    let vb = VarBuilder::from_tensors(
        candle_core::safetensors::load(dir.join("vae/diffusion_pytorch_model.safetensors"), &dev)
            .expect("vae weights"),
        DType::F32,
        &dev,
    );
    let vae = vae::Vae::new(&vb, &vc).expect("vae");
    // 256x256 frames: 32x32 latents.
    let latents = (Tensor::arange(0f32, 2.0 * 4.0 * 32.0 * 32.0, &dev)
        .unwrap()
        .reshape((2, 4, 32, 32))
        .unwrap()
        .affine(1.0 / 4096.0, -1.0))
    .unwrap();
    let context = (Tensor::arange(0f32, 2.0 * 77.0 * 256.0, &dev)
        .unwrap()
        .reshape((2, 77, 256))
        .unwrap()
        .affine(1.0 / 20000.0, -1.0))
    .unwrap();
    let unet_ms = time(5, || {
        let cond = Conditioning {
            context: &context,
            added: None,
            image: None,
        };
        unet.forward(&latents, 500.0, &cond).expect("unet step");
    });
    let one = latents.narrow(0, 0, 1).unwrap();
    let vae_ms = time(5, || {
        vae.decode(&one).expect("decode");
    });
    println!(
        "{}",
        serde_json::json!({
            "unet_ms": unet_ms, "vae_ms": vae_ms,
            "config": {"latent": [32, 32], "unet_channels": spec.unet_channels, "vae_channels": spec.vae_channels, "batch": 2},
            "model": dir.display().to_string()
        })
    );
}
