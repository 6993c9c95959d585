//! Our llama runtime against candle-transformers' `quantized_llama` on a small synthetic GGUF
//! that mixes every storage path the loader has: Q4_0, Q4_1 and Q8_0 kept quantized, Q4_0/Q4_1
//! projections that cannot be stacked (run apart), F16 and K-quants (Q4_K, Q6_K) dequantized to
//! f32, and an untied `output.weight`. Needs no downloaded model.

use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use previz_models::llm::CausalLm;
use previz_models::llm::llama::Llama;
use std::path::Path;

const D: usize = 256; // K-quants need multiples of 256 columns.
const FF: usize = 512;
const HEADS: u32 = 4;
const KV_HEADS: u32 = 2;
const VOCAB: usize = 384;

fn random(rows: usize, cols: usize, seed: u64, scale: f32) -> Tensor {
    // A small LCG: deterministic without a rand dependency.
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let data: Vec<f32> = (0..rows * cols)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
        })
        .collect();
    Tensor::from_vec(data, (rows, cols), &Device::Cpu).unwrap()
}

fn quantized(rows: usize, cols: usize, seed: u64, dtype: GgmlDType) -> QTensor {
    QTensor::quantize(&random(rows, cols, seed, 0.08), dtype).unwrap()
}

fn norm(seed: u64) -> QTensor {
    let w = (random(1, D, seed, 0.1) + 1.0)
        .unwrap()
        .flatten_all()
        .unwrap();
    QTensor::quantize(&w, GgmlDType::F32).unwrap()
}

fn write_model(path: &Path) {
    let kv = D / HEADS as usize * KV_HEADS as usize;
    let mut tensors: Vec<(String, QTensor)> = vec![
        (
            "token_embd.weight".into(),
            quantized(VOCAB, D, 1, GgmlDType::Q8_0),
        ),
        (
            "output.weight".into(),
            quantized(VOCAB, D, 2, GgmlDType::Q6K),
        ),
        ("output_norm.weight".into(), norm(3)),
    ];
    // Layer 0: projections of different types (run apart); layer 1: uniform (stacked).
    let layer_types = [
        [
            GgmlDType::Q4_0,
            GgmlDType::Q4_1,
            GgmlDType::Q8_0,
            GgmlDType::F16,
            GgmlDType::Q4K,
            GgmlDType::Q4_1,
            GgmlDType::Q8_0,
        ],
        [GgmlDType::Q4_1; 7],
    ];
    for (l, types) in layer_types.iter().enumerate() {
        let seed = 100 * (l as u64 + 1);
        let shapes = [
            ("attn_q", D, D),
            ("attn_k", kv, D),
            ("attn_v", kv, D),
            ("attn_output", D, D),
            ("ffn_gate", FF, D),
            ("ffn_up", FF, D),
            ("ffn_down", D, FF),
        ];
        for (i, ((name, rows, cols), dtype)) in shapes.iter().zip(types).enumerate() {
            tensors.push((
                format!("blk.{l}.{name}.weight"),
                quantized(*rows, *cols, seed + i as u64, *dtype),
            ));
        }
        tensors.push((format!("blk.{l}.attn_norm.weight"), norm(seed + 50)));
        tensors.push((format!("blk.{l}.ffn_norm.weight"), norm(seed + 51)));
    }
    let metadata = [
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", Value::U32(2)),
        ("llama.embedding_length", Value::U32(D as u32)),
        ("llama.feed_forward_length", Value::U32(FF as u32)),
        ("llama.attention.head_count", Value::U32(HEADS)),
        ("llama.attention.head_count_kv", Value::U32(KV_HEADS)),
        ("llama.rope.dimension_count", Value::U32(D as u32 / HEADS)),
        ("llama.rope.freq_base", Value::F32(10_000.0)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.context_length", Value::U32(256)),
    ];
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &metadata, &tensors).unwrap();
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn mixed_types_match_candle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-llama.gguf");
    write_model(&path);

    let mut ours = Llama::from_gguf(&path, 2).unwrap();
    let mut file = std::fs::File::open(&path).unwrap();
    let content = Content::read(&mut file).unwrap();
    let mut reference = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();

    let tokens: Vec<u32> = (0..12).map(|i| (i * 37 + 5) % VOCAB as u32).collect();
    let mut last = Vec::new();
    let mut worst = 0f32;
    for (pos, &t) in tokens.iter().enumerate() {
        last = ours.forward(&[t]).unwrap();
        let input = Tensor::new(&[t], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let want: Vec<f32> = reference
            .forward(&input, pos)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1()
            .unwrap();
        let range = want.iter().fold(f32::MIN, |m, &v| m.max(v))
            - want.iter().fold(f32::MAX, |m, &v| m.min(v));
        let rel = max_abs_diff(&last, &want) / range;
        assert!(
            rel < 0.06,
            "position {pos}: logits differ by {rel} of their range"
        );
        worst = worst.max(rel);
    }
    eprintln!("worst max-abs logit difference / logit range: {worst:.2e}");

    // The batched prompt path through the same mixed matrices.
    ours.truncate_cache(0);
    let batched = ours.forward(&tokens).unwrap();
    assert!(max_abs_diff(&batched, &last) <= 1e-4);
}

#[test]
fn the_kv_cache_estimate_counts_every_layer_and_kv_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-llama.gguf");
    write_model(&path);
    let gguf = previz_models::llm::gguf::GgufFile::open(&path).unwrap();
    // 2 layers × 2 KV heads × (keys + values of D / HEADS each) × 4 bytes.
    let head_dim = (D / HEADS as usize) as u64;
    assert_eq!(
        gguf.kv_bytes_per_position(),
        Some(2 * u64::from(KV_HEADS) * 2 * head_dim * 4)
    );
}
