//! A feature-length script and hostile long lines. Nothing here asserts a time (timings live
//! in `examples/bench_parse.rs`); a quadratic step would make these tests hang instead.

mod common;

use common::{assert_round_trip, feature_length};
use previz_screenplay::{parse_fountain, write_fountain};

#[test]
fn ten_thousand_lines_parse_and_round_trip() {
    let src = feature_length(10_000);
    let parsed = match parse_fountain(&src) {
        Ok(parsed) => parsed,
        Err(error) => panic!("{error}"),
    };
    let headings = parsed
        .screenplay
        .elements
        .iter()
        .filter(|e| e.kind.type_name() == "scene_heading")
        .count();
    assert!(headings > 400, "{headings} scenes");
    assert!(parsed.warnings.is_empty());
    let last = parsed.screenplay.elements.last().map(|e| e.span.line);
    assert!(last > Some(9_900), "{last:?}");
    assert_round_trip(&parsed.screenplay, "feature-length script");
}

#[test]
fn pathological_long_lines_finish() {
    let n = 60_000;
    let inputs = [
        "*".repeat(n),
        "*a ".repeat(n / 3),
        "_a_".repeat(n / 3),
        "[[".repeat(n / 2),
        "[[]]".repeat(n / 4),
        "[[x]]\n".repeat(n / 6),
        "\\".repeat(n) + "^",
        "(".repeat(n),
        "A (".repeat(n / 3) + ")",
        "/*".repeat(n / 2) + "*/",
        format!("BOB\n{}", "(x)\n".repeat(n / 4)),
        format!("BOB\n{}", "[[n]] (x) [[m]]\n".repeat(n / 16)),
        "#".repeat(n),
        format!("{}\n", "Key: value\n".repeat(n / 11)),
    ];
    for src in inputs {
        if let Ok(parsed) = parse_fountain(&src) {
            let written = write_fountain(&parsed.screenplay);
            assert!(parse_fountain(&written).is_ok());
        }
    }
}
