//! Fountain → document → Fountain → document gives the same document (ids aside: every import
//! mints fresh ones), for every sample, Fountain and FDX alike.

use std::collections::HashMap;
use std::path::PathBuf;

use previz_screenplay::convert::{to_screenplay, to_script};
use previz_screenplay::{parse_fdx, parse_fountain, parse_fountain_bytes, write_fountain};
use serde_json::Value;

fn samples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/screenplays");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("broken")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 4, "samples missing in {}", dir.display());
    files
}

/// The document as JSON with every uuid replaced by its order of first appearance.
fn without_ids(script: &previz_core::Script) -> Value {
    fn walk(v: &mut Value, seen: &mut HashMap<String, usize>) {
        match v {
            Value::String(s) if uuid_like(s) => {
                let n = seen.len();
                let k = *seen.entry(s.clone()).or_insert(n);
                *s = format!("id-{k}");
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, seen)),
            Value::Object(map) => map.values_mut().for_each(|i| walk(i, seen)),
            _ => {}
        }
    }
    fn uuid_like(s: &str) -> bool {
        s.len() == 36 && s.parse::<previz_core::SceneId>().is_ok()
    }
    let mut value = serde_json::to_value(script).unwrap();
    walk(&mut value, &mut HashMap::new());
    value
}

#[test]
fn every_sample_round_trips_through_the_document() {
    for path in samples() {
        let bytes = std::fs::read(&path).unwrap();
        let parsed = if path.extension().is_some_and(|e| e == "fdx") {
            parse_fdx(&bytes)
        } else {
            parse_fountain_bytes(&bytes)
        }
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let first = to_script(&parsed.screenplay);
        assert!(!first.scenes.is_empty(), "{}: no scenes", path.display());
        let fountain = write_fountain(&to_screenplay(&first, false));
        let reparsed = parse_fountain(&fountain)
            .unwrap_or_else(|e| panic!("{}: {e}\n{fountain}", path.display()));
        let second = to_script(&reparsed.screenplay);
        assert_eq!(
            without_ids(&first),
            without_ids(&second),
            "{}: the document changed through Fountain:\n{fountain}",
            path.display()
        );
    }
}

#[test]
fn scenes_speeches_and_cast_come_out_of_the_sample() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/screenplays/dialogue-heavy.fountain");
    let parsed = parse_fountain_bytes(&std::fs::read(path).unwrap()).unwrap();
    let script = to_script(&parsed.screenplay);
    let speeches: usize = script.scenes.iter().map(|s| s.dialogue().count()).sum();
    assert!(speeches >= 10, "{speeches} speeches");
    assert!(script.characters.len() >= 2);
    for scene in &script.scenes {
        assert!(scene.location.is_some(), "{:?}", scene.heading);
        for d in scene.dialogue() {
            assert!(d.character.is_some());
            assert!(!d.parts.is_empty(), "a speech with no words: {d:?}");
        }
    }
    let dual = script
        .scenes
        .iter()
        .flat_map(previz_core::Scene::dialogue)
        .filter(|d| d.dual.is_some())
        .count();
    assert!(dual >= 2, "the sample has dual dialogue");
}

#[test]
fn omitted_scenes_export_as_omitted_headings_when_asked() {
    let parsed =
        parse_fountain("INT. A - DAY #1#\n\nAction.\n\nINT. B - DAY #2#\n\nMore.\n").unwrap();
    let mut script = to_script(&parsed.screenplay);
    script.scenes[0].omitted = true;
    let skipped = write_fountain(&to_screenplay(&script, false));
    assert!(!skipped.contains("INT. A"), "{skipped}");
    let kept = write_fountain(&to_screenplay(&script, true));
    assert!(kept.contains("OMITTED") && kept.contains("#1#"), "{kept}");
}
