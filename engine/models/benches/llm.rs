//! Our llama runtime against llama.cpp (and candle-transformers for reference) on one GGUF file:
//! prompt and greedy-generation tokens/s, ratios, and the memory-bandwidth bound for decoding.
//!
//! Run through `scripts/bench-llm.sh`, which first runs llama.cpp (`scripts/bench_llm_peer.py`)
//! and passes its results here, so both feed exactly the same prompt token ids. Environment:
//!
//! * `PREVIZ_LLM_MODEL`: the GGUF file (default: the SmolLM2-135M-Instruct Q4_1 in models/cache);
//! * `PREVIZ_LLM_PEER_JSON`: llama.cpp's results (without it, only our side and candle's run,
//!   on the built-in prompt);
//! * `PREVIZ_LLM_THREADS`: threads (default 2);
//! * `PREVIZ_LLM_CANDLE=0`: skip the (slow) candle column.

// A benchmark's output is its table.
#![allow(clippy::print_stdout)]

use candle_core::quantized::gguf_file::Content;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use previz_models::llm::CausalLm;
use previz_models::llm::llama::Llama;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const GEN_TOKENS: usize = 128;
const REPS: usize = 3;
/// Greedy tokens that must agree with llama.cpp's.
const AGREE_TOKENS: usize = 32;

#[derive(serde::Deserialize)]
struct Peer {
    engine: String,
    prompt_ids: Vec<u32>,
    prompt_tok_s: f64,
    gen_tok_s: f64,
    greedy_ids: Vec<u32>,
}

struct Speed {
    prompt_tok_s: f64,
    gen_tok_s: f64,
    greedy: Vec<u32>,
}

fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Times `prompt` then `GEN_TOKENS` greedy tokens through `step` (which resets the model when
/// given the whole prompt at position 0); one warm-up run, then the median of `reps`.
fn measure(prompt: &[u32], reps: usize, mut step: impl FnMut(&[u32], usize) -> Vec<f32>) -> Speed {
    let (mut prompt_t, mut gen_t, mut greedy) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..=reps {
        let t0 = Instant::now();
        let mut logits = step(prompt, 0);
        let t1 = Instant::now();
        greedy.clear();
        for i in 0..GEN_TOKENS {
            let next = argmax(&logits);
            greedy.push(next);
            logits = step(&[next], prompt.len() + i);
        }
        if rep > 0 {
            prompt_t.push(t1 - t0);
            gen_t.push(t1.elapsed());
        }
    }
    Speed {
        prompt_tok_s: prompt.len() as f64 / median(prompt_t).as_secs_f64(),
        gen_tok_s: GEN_TOKENS as f64 / median(gen_t).as_secs_f64(),
        greedy,
    }
}

/// Read bandwidth (bytes/s) of `threads` threads summing a buffer far larger than the caches.
fn read_bandwidth(threads: usize) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let data = vec![1u64; 64 << 20]; // 512 MiB
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let total: u64 = pool.install(|| {
            use rayon::prelude::*;
            data.par_chunks(data.len() / threads)
                .map(|c| c.iter().fold(0u64, |a, &b| a.wrapping_add(b)))
                .sum()
        });
        assert_eq!(total, data.len() as u64);
        best = best.min(t.elapsed().as_secs_f64());
    }
    (data.len() * 8) as f64 / best
}

/// What splitting a job across the threads costs, the way each matrix product does (a decoded
/// token runs ~210 of them): `threads` shares of ~20 µs of work each, run as a join inside the
/// running pool and by spawning scoped threads; the overhead is the time beyond one share.
fn split_overhead(threads: usize) -> (Duration, Duration) {
    const CALLS: u32 = 2000;
    fn share(seed: u64) -> u64 {
        (0..20_000u64).fold(seed, |a, i| {
            std::hint::black_box(a.wrapping_mul(31).wrapping_add(i))
        })
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let mut sink = vec![0u64; threads];
    let t = Instant::now();
    for _ in 0..CALLS {
        sink[0] = share(sink[0]);
    }
    let one = t.elapsed() / CALLS;
    let rayon_t = pool.install(|| {
        use rayon::prelude::*;
        let t = Instant::now();
        for _ in 0..CALLS {
            sink.par_iter_mut().for_each(|s| *s = share(*s));
        }
        t.elapsed() / CALLS
    });
    let t = Instant::now();
    for _ in 0..CALLS {
        std::thread::scope(|scope| {
            for s in &mut sink {
                scope.spawn(move || *s = share(*s));
            }
        });
    }
    let scope_t = t.elapsed() / CALLS;
    (rayon_t.saturating_sub(one), scope_t.saturating_sub(one))
}

fn main() {
    // As the `previz` binary and the studio run (see `previz_models::memory`).
    previz_models::memory::keep_tensor_buffers();
    let model_path = std::env::var_os("PREVIZ_LLM_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../models/cache/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    let threads: usize = std::env::var("PREVIZ_LLM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let peer: Option<Peer> = std::env::var_os("PREVIZ_LLM_PEER_JSON").map(|p| {
        let text = std::fs::read_to_string(&p).expect("peer JSON readable");
        serde_json::from_str(&text).expect("peer JSON well-formed")
    });
    // Without llama.cpp's ids: a fixed 259-token stand-in (ids of ordinary text tokens).
    let prompt: Vec<u32> = match &peer {
        Some(p) => p.prompt_ids.clone(),
        None => (0..259u32).map(|i| 200 + (i * 7919) % 20000).collect(),
    };

    println!("model: {}", model_path.display());
    println!(
        "threads: {threads}, prompt: {} tokens, generation: {GEN_TOKENS} greedy tokens, median of {REPS} after a warm-up",
        prompt.len()
    );
    println!("kernels: {:?}", previz_models::llm::kernels::simd_level());

    let mut ours = Llama::from_gguf(&model_path, threads).expect("model loads");
    let ours_speed = measure(&prompt, REPS, |tokens, pos| {
        ours.truncate_cache(pos);
        ours.forward(tokens).expect("forward")
    });

    let candle = (std::env::var("PREVIZ_LLM_CANDLE").as_deref() != Ok("0")).then(|| {
        let mut file = std::fs::File::open(&model_path).expect("model opens");
        let content = Content::read(&mut file).expect("GGUF header");
        let mut model =
            ModelWeights::from_gguf(content, &mut file, &Device::Cpu).expect("candle model");
        // candle is slow: one timed run after the warm-up.
        measure(&prompt, 1, |tokens, pos| {
            let input = Tensor::new(tokens, &Device::Cpu).and_then(|t| t.unsqueeze(0));
            let logits = input
                .and_then(|t| model.forward(&t, pos))
                .expect("candle forward");
            logits.squeeze(0).and_then(|l| l.to_vec1()).expect("logits")
        })
    });

    let bandwidth = read_bandwidth(threads);
    let bytes = ours.weight_bytes_per_token() as f64;
    let bound = bandwidth / bytes;
    let (rayon_split, scope_split) = split_overhead(threads);

    println!();
    println!(
        "{:<34} {:>14} {:>14} {:>12} {:>12}",
        "engine", "prompt tok/s", "gen tok/s", "prompt ×", "gen ×"
    );
    let row = |name: &str, prompt_tps: f64, gen_tps: f64| {
        let ratio = |ours: f64, theirs: Option<f64>| match theirs {
            Some(t) => format!("{:.2}", ours / t),
            None => "-".to_string(),
        };
        println!(
            "{name:<34} {prompt_tps:>14.1} {gen_tps:>14.1} {:>12} {:>12}",
            ratio(prompt_tps, peer.as_ref().map(|p| p.prompt_tok_s)),
            ratio(gen_tps, peer.as_ref().map(|p| p.gen_tok_s)),
        );
    };
    if let Some(p) = &peer {
        row(&p.engine, p.prompt_tok_s, p.gen_tok_s);
    }
    row(
        "previz llama (ours)",
        ours_speed.prompt_tok_s,
        ours_speed.gen_tok_s,
    );
    if let Some(c) = &candle {
        row("candle-transformers 0.11", c.prompt_tok_s, c.gen_tok_s);
    }
    println!("(× = ratio to llama.cpp)");
    println!();
    println!(
        "decode memory bound: {:.1} MB of weights per token / {:.1} GB/s read bandwidth ({threads} threads) = {bound:.1} tok/s; ours reaches {:.0}% of it",
        bytes / 1e6,
        bandwidth / 1e9,
        100.0 * ours_speed.gen_tok_s / bound
    );
    println!(
        "overhead of splitting one job across {threads} threads: rayon join inside the pool {:.1} µs, std::thread::scope spawns {:.1} µs",
        rayon_split.as_secs_f64() * 1e6,
        scope_split.as_secs_f64() * 1e6
    );
    let agree = |other: &[u32]| {
        let n = AGREE_TOKENS.min(other.len());
        let same = ours_speed.greedy[..n] == other[..n];
        let first_diff = ours_speed
            .greedy
            .iter()
            .zip(other)
            .position(|(a, b)| a != b);
        match first_diff {
            None => format!("all {} generated tokens agree", other.len().min(GEN_TOKENS)),
            Some(i) => format!(
                "first {n} {}; first difference at token {i}",
                if same { "agree" } else { "DIFFER" }
            ),
        }
    };
    if let Some(p) = &peer {
        println!("greedy tokens vs llama.cpp: {}", agree(&p.greedy_ids));
    }
    if let Some(c) = &candle {
        println!("greedy tokens vs candle:    {}", agree(&c.greedy));
    }
}
