//! The shot plan: what a breakdown engine (rules or a model) says about one scene, as the
//! JSON document whose schema constrains the model's output.

use previz_core::{CameraAngle, CameraMovement, ShotSize};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Bounds of the schema (the grammar makes them hard limits for a model).
pub const MAX_SHOTS: usize = 12;
pub const MAX_LINES_PER_SHOT: usize = 20;
pub const MAX_LINE_INDEX: usize = 99;
pub const SUBJECT_CHARS: usize = 60;
pub const ACTION_CHARS: usize = 160;
pub const PROMPT_CHARS: usize = 240;
pub const MIN_SECONDS: f64 = 0.5;
pub const MAX_SECONDS: f64 = 60.0;
pub const MIN_LENS: u32 = 12;
pub const MAX_LENS: u32 = 200;

/// One scene's shots, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShotPlan {
    pub shots: Vec<PlannedShot>,
}

/// One planned shot. Keys are in the order the grammar emits them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedShot {
    pub size: ShotSize,
    pub angle: CameraAngle,
    pub movement: CameraMovement,
    pub lens_mm: u32,
    /// Who or what the frame is about (`MARA`, `the letter`).
    pub subject: String,
    pub action: String,
    /// 1-based indices of the scene's speeches this shot covers.
    pub lines: Vec<u32>,
    pub duration_s: f64,
    /// The image prompt for the storyboard frame (the style is appended later).
    pub prompt: String,
}

fn names<T: Copy + Serialize>(all: &[T]) -> Vec<Value> {
    all.iter()
        .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
        .collect()
}

/// The JSON schema of a plan (the subset previz-grammar compiles; keys in `required` order).
///
/// `duration_s` has no `multipleOf`: independent validators compute it in floating point and
/// reject 1.5 as "not a multiple of 0.1"; the grammar's default of one decimal applies.
#[must_use]
pub fn json_schema() -> Value {
    json!({
        "type": "object",
        "required": ["shots"],
        "additionalProperties": false,
        "properties": {
            "shots": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_SHOTS,
                "items": {
                    "type": "object",
                    "required": ["size", "angle", "movement", "lens_mm", "subject", "action", "lines", "duration_s", "prompt"],
                    "additionalProperties": false,
                    "properties": {
                        "size": {"enum": names(ShotSize::ALL)},
                        "angle": {"enum": names(CameraAngle::ALL)},
                        "movement": {"enum": names(CameraMovement::ALL)},
                        "lens_mm": {"type": "integer", "minimum": MIN_LENS, "maximum": MAX_LENS},
                        "subject": {"type": "string", "maxLength": SUBJECT_CHARS},
                        "action": {"type": "string", "maxLength": ACTION_CHARS},
                        "lines": {
                            "type": "array",
                            "maxItems": MAX_LINES_PER_SHOT,
                            "items": {"type": "integer", "minimum": 1, "maximum": MAX_LINE_INDEX}
                        },
                        "duration_s": {"type": "number", "minimum": MIN_SECONDS, "maximum": MAX_SECONDS},
                        "prompt": {"type": "string", "maxLength": PROMPT_CHARS}
                    }
                }
            }
        }
    })
}

/// The schema with bounds fitted to a scene of `lines` speeches: `lines` can only name speeches
/// that exist, and the number of shots is bounded by the dialogue.
#[must_use]
pub fn json_schema_for(lines: usize) -> Value {
    let mut schema = json_schema();
    let shots = &mut schema["properties"]["shots"];
    shots["maxItems"] = json!((lines + 4).clamp(2, MAX_SHOTS));
    let list = &mut shots["items"]["properties"]["lines"];
    list["maxItems"] = json!(lines.min(MAX_LINES_PER_SHOT));
    list["items"]["maximum"] = json!(lines.clamp(1, MAX_LINE_INDEX));
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_compiles_and_a_plan_round_trips() {
        previz_grammar::Grammar::from_json_schema(&json_schema()).unwrap();
        previz_grammar::Grammar::from_json_schema(&json_schema_for(0)).unwrap();
        previz_grammar::Grammar::from_json_schema(&json_schema_for(40)).unwrap();
        let text = r#"{"shots":[{"size":"medium_close_up","angle":"over_the_shoulder","movement":"dolly_in","lens_mm":65,"subject":"MARA","action":"She reads","lines":[1,2],"duration_s":3.5,"prompt":"a woman reading"}]}"#;
        let plan: ShotPlan = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&plan).unwrap(), text);
        let bad = text.replace("dolly_in", "moonwalk");
        assert!(serde_json::from_str::<ShotPlan>(&bad).is_err());
    }
}
