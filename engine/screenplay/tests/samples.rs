//! The sample screenplays: they parse, match the JSON snapshot, and round-trip through the
//! Fountain writer; the broken ones fail with useful messages.

mod common;

use common::{GOOD_SAMPLES, assert_round_trip, parse_sample, read_sample};
use previz_screenplay::{ElementKind, ParseErrorKind, parse_fdx, parse_fountain_bytes};

#[test]
fn every_feature_json_snapshot() {
    let parsed = parse_sample("every-feature.fountain");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    insta::assert_json_snapshot!("every_feature", parsed.screenplay);
}

#[test]
fn short_action_fdx_json_snapshot() {
    let parsed = parse_sample("short-action.fdx");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    insta::assert_json_snapshot!("short_action_fdx", parsed.screenplay);
}

#[test]
fn samples_round_trip() {
    for name in GOOD_SAMPLES {
        let parsed = parse_sample(name);
        assert_round_trip(&parsed.screenplay, name);
    }
}

#[test]
fn every_feature_uses_every_element_type() {
    let parsed = parse_sample("every-feature.fountain");
    let mut seen: Vec<&str> = parsed
        .screenplay
        .elements
        .iter()
        .map(|e| e.kind.type_name())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen,
        [
            "action",
            "centered",
            "character",
            "dialogue",
            "lyrics",
            "note",
            "page_break",
            "parenthetical",
            "scene_heading",
            "section",
            "synopsis",
            "transition"
        ]
    );
    let forced = |kind: &ElementKind| match kind {
        ElementKind::SceneHeading { forced, .. }
        | ElementKind::Action { forced, .. }
        | ElementKind::Character { forced, .. }
        | ElementKind::Transition { forced, .. } => *forced,
        _ => false,
    };
    let forced_types: Vec<&str> = parsed
        .screenplay
        .elements
        .iter()
        .filter(|e| forced(&e.kind))
        .map(|e| e.kind.type_name())
        .collect();
    for kind in ["scene_heading", "action", "character", "transition"] {
        assert!(forced_types.contains(&kind), "no forced {kind}");
    }
}

#[test]
fn fdx_sample_matches_the_fountain_story() {
    let fdx = parse_sample("short-action.fdx").screenplay;
    let headings = |sp: &previz_screenplay::Screenplay| -> Vec<String> {
        sp.elements
            .iter()
            .filter(|e| e.kind.type_name() == "scene_heading")
            .filter_map(|e| e.kind.text().map(str::to_owned))
            .collect()
    };
    let fountain = parse_sample("short-action.fountain").screenplay;
    assert_eq!(headings(&fdx), headings(&fountain));
}

#[test]
fn broken_fountain_names_the_unclosed_boneyard() {
    let Err(error) = parse_fountain_bytes(&read_sample("broken.fountain")) else {
        panic!("broken.fountain parsed");
    };
    assert_eq!(error.kind, ParseErrorKind::UnterminatedBoneyard);
    assert_eq!((error.line, error.column), (7, 1));
    assert_eq!(
        error.with_path("broken.fountain").to_string(),
        "broken.fountain:7:1: this /* boneyard is never closed, so everything after it would be \
         ignored; expected a closing */; add */ where the ignored text should end, or escape a \
         literal slash-star as /\\*"
    );
}

#[test]
fn broken_fdx_reports_the_xml_position() {
    let Err(error) = parse_fdx(&read_sample("broken.fdx")) else {
        panic!("broken.fdx parsed");
    };
    assert_eq!(error.kind, ParseErrorKind::MalformedXml);
    assert_eq!((error.line, error.column), (9, 3));
    let message = error.with_path("broken.fdx").to_string();
    assert!(
        message.starts_with("broken.fdx:9:3: the FDX file is not well-formed XML"),
        "{message}"
    );
    assert!(message.contains("re-export"), "{message}");
}
