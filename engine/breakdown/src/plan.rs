//! The shot plan: what a breakdown engine (rules or an LLM) says about one scene.
//!
//! The JSON form is what a constrained decoder emits; [`json_schema`] is its grammar, with
//! object keys listed in `required` in the order the decoder writes them.

use previz_core::{CameraAngle, CameraMovement, ShotSize};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Most shots one scene's plan may hold.
pub const MAX_SHOTS: usize = 12;
/// Most dialogue lines one shot may name.
pub const MAX_LINES_PER_SHOT: usize = 20;
/// Bounds of a lens, in millimetres.
pub const LENS_MM: (u32, u32) = (12, 200);
/// Bounds of a shot's duration, in seconds.
pub const DURATION_S: (f64, f64) = (0.5, 60.0);
/// Longest subject, action and prompt, in characters.
pub const SUBJECT_MAX: usize = 60;
pub const ACTION_MAX: usize = 160;
pub const PROMPT_MAX: usize = 240;

/// One scene's shots, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenePlan {
    pub shots: Vec<PlannedShot>,
}

/// One planned shot. `lines` are 1-based indices of the scene's speeches in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedShot {
    pub size: ShotSize,
    pub angle: CameraAngle,
    pub movement: CameraMovement,
    pub lens_mm: u32,
    pub subject: String,
    pub action: String,
    pub lines: Vec<u32>,
    pub duration_s: f64,
    pub prompt: String,
}

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<Value> {
    all.iter().map(|v| Value::from(name(*v))).collect()
}

/// The JSON schema of a [`ScenePlan`], for constrained decoding.
#[must_use]
pub fn json_schema() -> Value {
    json!({
        "type": "object",
        "required": ["shots"],
        "properties": {
            "shots": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_SHOTS,
                "items": {
                    "type": "object",
                    "required": ["size", "angle", "movement", "lens_mm", "subject", "action",
                                 "lines", "duration_s", "prompt"],
                    "properties": {
                        "size": {"enum": names(ShotSize::ALL, ShotSize::as_str)},
                        "angle": {"enum": names(CameraAngle::ALL, CameraAngle::as_str)},
                        "movement": {"enum": names(CameraMovement::ALL, CameraMovement::as_str)},
                        "lens_mm": {"type": "integer", "minimum": LENS_MM.0, "maximum": LENS_MM.1},
                        "subject": {"type": "string", "maxLength": SUBJECT_MAX},
                        "action": {"type": "string", "maxLength": ACTION_MAX},
                        "lines": {
                            "type": "array",
                            "maxItems": MAX_LINES_PER_SHOT,
                            "items": {"type": "integer", "minimum": 1, "maximum": 99}
                        },
                        "duration_s": {"type": "number", "minimum": DURATION_S.0,
                                       "maximum": 60, "multipleOf": 0.1},
                        "prompt": {"type": "string", "maxLength": PROMPT_MAX}
                    },
                    "additionalProperties": false
                }
            }
        },
        "additionalProperties": false
    })
}

/// The schema with bounds fitted to a scene of `lines` speeches, for the grammar: `lines` can
/// only name speeches that exist, and the number of shots is bounded by the dialogue.
#[must_use]
pub fn json_schema_for(lines: usize) -> Value {
    let mut schema = json_schema();
    let shots = &mut schema["properties"]["shots"];
    shots["maxItems"] = json!((lines + 4).clamp(2, MAX_SHOTS));
    let list = &mut shots["items"]["properties"]["lines"];
    list["maxItems"] = json!(lines.min(MAX_LINES_PER_SHOT));
    list["items"]["maximum"] = json!(lines.clamp(1, 99));
    schema
}

/// Cuts `text` to at most `max` characters on a char boundary.
#[must_use]
pub fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Cuts `text` to at most `max` characters at a word boundary (no half words in a prompt).
#[must_use]
pub fn clip_words(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut = clip(text, max);
    let end = cut.rfind([' ', ',']).unwrap_or(cut.len());
    cut[..end].trim_end_matches([',', ' ', ';', ':']).to_owned()
}

/// Rounds seconds to the schema's 0.1 s grid inside its bounds.
#[must_use]
pub fn round_duration(seconds: f64) -> f64 {
    let s = if seconds.is_finite() {
        seconds
    } else {
        DURATION_S.0
    };
    ((s.clamp(DURATION_S.0, DURATION_S.1)) * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ScenePlan {
        ScenePlan {
            shots: vec![PlannedShot {
                size: ShotSize::MediumCloseUp,
                angle: CameraAngle::OverTheShoulder,
                movement: CameraMovement::DollyIn,
                lens_mm: 50,
                subject: "MARA".into(),
                action: "Mara reads the letter.".into(),
                lines: vec![1, 2],
                duration_s: 4.5,
                prompt: "medium close-up of Mara".into(),
            }],
        }
    }

    #[test]
    fn schema_is_the_contract() {
        let expected: Value =
            serde_json::from_str(include_str!("../tests/plan_schema.json")).unwrap();
        assert_eq!(json_schema(), expected);
    }

    #[test]
    fn serde_round_trips_through_the_schema_keys() {
        let plan = sample();
        let value = serde_json::to_value(&plan).unwrap();
        let schema = json_schema();
        let item = &schema["properties"]["shots"]["items"];
        let required: Vec<&str> = item["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let shot = value["shots"][0].as_object().unwrap();
        let keys: Vec<&str> = shot.keys().map(String::as_str).collect();
        let mut sorted_required = required.clone();
        sorted_required.sort_unstable();
        let mut sorted_keys = keys.clone();
        sorted_keys.sort_unstable();
        assert_eq!(sorted_keys, sorted_required);
        for (key, v) in shot {
            if let Some(options) = item["properties"][key]["enum"].as_array() {
                assert!(options.contains(v), "{key}: {v} not in the schema's enum");
            }
        }
        // Every enum value of the schema parses back into the serde types.
        for size in item["properties"]["size"]["enum"].as_array().unwrap() {
            let _: ShotSize = serde_json::from_value(size.clone()).unwrap();
        }
        for angle in item["properties"]["angle"]["enum"].as_array().unwrap() {
            let _: CameraAngle = serde_json::from_value(angle.clone()).unwrap();
        }
        for m in item["properties"]["movement"]["enum"].as_array().unwrap() {
            let _: CameraMovement = serde_json::from_value(m.clone()).unwrap();
        }
        let back: ScenePlan = serde_json::from_value(value).unwrap();
        assert_eq!(back, plan);
    }

    #[test]
    fn unknown_keys_are_refused_as_the_schema_does() {
        let text = r#"{"shots":[],"extra":1}"#;
        assert!(serde_json::from_str::<ScenePlan>(text).is_err());
    }
}
