//! Prompts for the LLM breakdown, tuned for small models (SmolLM2-135M upwards).
//!
//! What works on a 135M model: a short system prompt, two worked examples as earlier turns
//! (few-shot) in exactly the compact JSON the grammar forces, and the scene as a numbered list
//! of speeches so the model only has to pick numbers for `lines`. The examples and the system
//! prompt are identical for every scene, so their tokens stay in the KV cache and each scene
//! only pays for its own text. The style preset is not the model's business: it is appended to
//! every image prompt afterwards, deterministically.

use previz_models::llm::template::ChatMessage;

/// The scene as the prompt shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromptScene {
    /// `INT. KITCHEN - NIGHT`
    pub heading: String,
    /// Cue names of the characters present.
    pub characters: Vec<String>,
    /// Action paragraphs, in order (trimmed to a budget by [`messages`]).
    pub action: Vec<String>,
    /// Speeches in order: (cue, words). Numbered from 1 in the prompt.
    pub lines: Vec<(String, String)>,
}

const SYSTEM: &str = "You are a first assistant director. You turn a screenplay scene into a \
shot list for the storyboard artist. Answer with JSON only. Every numbered line of dialogue \
must be covered by a shot. Use only the characters in the scene.";

/// Characters of action text a scene contributes to its prompt.
const ACTION_BUDGET: usize = 900;
/// Characters of one speech in the prompt.
const LINE_BUDGET: usize = 160;

fn example_1() -> (PromptScene, &'static str) {
    (
        PromptScene {
            heading: "EXT. HARBOUR - DAWN".into(),
            characters: vec!["ELLA".into(), "TOM".into()],
            action: vec!["Fog over the water. ELLA walks the pier with a lantern. TOM waits by a rowing boat.".into()],
            lines: vec![
                ("TOM".into(), "You're late.".into()),
                ("ELLA".into(), "The tide was early.".into()),
                ("TOM".into(), "Get in the boat.".into()),
            ],
        },
        r#"{"shots":[{"size":"extreme_wide","angle":"high","movement":"crane","lens_mm":24,"subject":"the harbour","action":"Fog over the water at dawn","lines":[],"duration_s":4,"prompt":"foggy harbour at dawn, wooden pier, rowing boats"},{"size":"full","angle":"eye_level","movement":"tracking","lens_mm":35,"subject":"ELLA","action":"Ella walks the pier with a lantern","lines":[],"duration_s":3,"prompt":"woman with a lantern walking along a foggy pier"},{"size":"medium","angle":"over_the_shoulder","movement":"static","lens_mm":50,"subject":"TOM","action":"Tom waits by the boat","lines":[1],"duration_s":2,"prompt":"man by a rowing boat seen over a woman's shoulder, fog"},{"size":"close_up","angle":"eye_level","movement":"static","lens_mm":85,"subject":"ELLA","action":"Ella answers him","lines":[2],"duration_s":2,"prompt":"close-up of a woman's face lit by a lantern, fog"},{"size":"medium_close_up","angle":"eye_level","movement":"static","lens_mm":50,"subject":"TOM","action":"Tom points at the boat","lines":[3],"duration_s":1.5,"prompt":"man pointing at a rowing boat, dawn light"}]}"#,
    )
}

fn example_2() -> (PromptScene, &'static str) {
    (
        PromptScene {
            heading: "INT. OFFICE - NIGHT".into(),
            characters: vec!["DAN".into(), "RITA".into()],
            action: vec!["A desk lamp. DAN opens a drawer and takes out a revolver. RITA watches from the door.".into()],
            lines: vec![
                ("RITA".into(), "Put it back, Dan.".into()),
                ("DAN".into(), "Not tonight.".into()),
            ],
        },
        r#"{"shots":[{"size":"wide","angle":"eye_level","movement":"static","lens_mm":28,"subject":"the office","action":"A dark office lit by a desk lamp","lines":[],"duration_s":3,"prompt":"dark office at night, a single desk lamp, a man at the desk"},{"size":"insert","angle":"overhead","movement":"static","lens_mm":100,"subject":"the revolver","action":"Dan takes a revolver out of the drawer","lines":[],"duration_s":2,"prompt":"hand lifting a revolver out of a desk drawer"},{"size":"medium","angle":"eye_level","movement":"dolly_in","lens_mm":50,"subject":"RITA","action":"Rita at the door","lines":[1],"duration_s":2,"prompt":"woman standing in an office doorway at night"},{"size":"close_up","angle":"low","movement":"static","lens_mm":85,"subject":"DAN","action":"Dan refuses","lines":[2],"duration_s":1.5,"prompt":"close-up of a tired man holding a revolver, lamp light"}]}"#,
    )
}

fn clip(text: &str, budget: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= budget {
        return text;
    }
    let mut out: String = text.chars().take(budget).collect();
    if let Some(cut) = out.rfind(' ') {
        out.truncate(cut);
    }
    out.push_str(" ...");
    out
}

/// The user turn describing a scene.
#[must_use]
pub fn describe(scene: &PromptScene) -> String {
    let mut out = format!("Scene: {}\n", scene.heading.trim());
    let cast = if scene.characters.is_empty() {
        "none".to_owned()
    } else {
        scene.characters.join(", ")
    };
    out.push_str(&format!("Characters: {cast}\n"));
    let action = clip(&scene.action.join(" "), ACTION_BUDGET);
    if !action.is_empty() {
        out.push_str(&format!("Action: {action}\n"));
    }
    if scene.lines.is_empty() {
        out.push_str("Lines: none\n");
    } else {
        out.push_str("Lines:\n");
        for (i, (cue, words)) in scene.lines.iter().enumerate() {
            out.push_str(&format!(
                "{}. {}: {}\n",
                i + 1,
                cue.trim(),
                clip(words, LINE_BUDGET)
            ));
        }
    }
    out
}

/// The conversation for one scene: system prompt, two worked examples, the scene.
#[must_use]
pub fn messages(scene: &PromptScene) -> Vec<ChatMessage> {
    let mut out = vec![ChatMessage::system(SYSTEM)];
    for (example, answer) in [example_1(), example_2()] {
        out.push(ChatMessage::user(describe(&example)));
        out.push(ChatMessage::assistant(answer));
    }
    out.push(ChatMessage::user(describe(scene)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_valid_plans_of_the_schema() {
        for (_, answer) in [example_1(), example_2()] {
            let v: serde_json::Value = serde_json::from_str(answer).unwrap();
            assert!(v["shots"].as_array().is_some_and(|s| !s.is_empty()));
        }
    }

    #[test]
    fn scene_is_numbered_and_budgeted() {
        let scene = PromptScene {
            heading: "INT. KITCHEN - NIGHT".into(),
            characters: vec!["MARA".into()],
            action: vec!["word ".repeat(1000)],
            lines: vec![("MARA".into(), "You kept it.".into())],
        };
        let text = describe(&scene);
        assert!(text.contains("1. MARA: You kept it.\n"));
        assert!(text.len() < 1200);
        let m = messages(&scene);
        assert_eq!(m.len(), 6);
        // Everything before the scene is shared by every scene (prefix reuse).
        let other = messages(&PromptScene::default());
        assert_eq!(m[..5], other[..5]);
    }
}
