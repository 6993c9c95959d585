//! Finding the real model weights for tests.
//!
//! The SmolLM2 GGUF is fetched by `models/fetch.py` (CI runs it). Without it these tests print
//! why they skip, unless `PREVIZ_REQUIRE_MODELS=1` (set by CI), where a missing file fails.

use std::path::PathBuf;

pub fn smollm2() -> Option<PathBuf> {
    let rel = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
    let mut roots: Vec<PathBuf> = std::env::var_os("PREVIZ_MODELS_DIR")
        .map(|d| std::env::split_paths(&d).collect())
        .unwrap_or_default();
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/cache"));
    if let Some(p) = roots.iter().map(|r| r.join(rel)).find(|p| p.is_file()) {
        return Some(p);
    }
    assert!(
        std::env::var_os("PREVIZ_REQUIRE_MODELS").is_none(),
        "SmolLM2 is required (PREVIZ_REQUIRE_MODELS) but missing: run python3 models/fetch.py"
    );
    eprintln!("skipped: SmolLM2 GGUF not found; run python3 models/fetch.py");
    None
}
