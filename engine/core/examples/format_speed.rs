//! Quick look at serialization speed of a large project (the real benchmark lives in storage).
fn main() {
    let project = previz_core::synth::project(10_000, 10_000);
    let t = std::time::Instant::now();
    let bytes = previz_core::format::to_json(&project);
    let ser = t.elapsed();
    let t = std::time::Instant::now();
    let back = previz_core::format::from_json(&bytes).unwrap();
    let de = t.elapsed();
    let t = std::time::Instant::now();
    let _v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let val = t.elapsed();
    assert_eq!(back, project);
    eprintln!("compact {} bytes", compact(&project));
    eprintln!(
        "{} bytes; serialize {ser:?}; deserialize {de:?}; parse as Value {val:?}",
        bytes.len()
    );
}

#[allow(dead_code)]
fn compact(project: &previz_core::Project) -> usize {
    serde_json::to_vec(project).unwrap().len()
}
