//! Finding the real model weights for tests.
//!
//! The SmolLM2 GGUF is fetched by `models/fetch.py` (CI runs it). Without it these tests print
//! why they skip, unless `PREVIZ_REQUIRE_MODELS=1` (set by CI), where a missing file fails.

use std::path::PathBuf;

#[allow(dead_code)]
pub fn smollm2() -> Option<PathBuf> {
    previz_models::registry::model_for_tests(
        "smollm2-135m-instruct",
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/cache"),
    )
}

#[allow(dead_code)] // not every test file speaks
pub fn joe() -> Option<PathBuf> {
    previz_models::registry::model_for_tests(
        "en-us-joe-medium",
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/cache"),
    )
}
