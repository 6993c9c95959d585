//! What a shot's frame is drawn from: the style preset, the character bible entries of the
//! shot's subjects, and the shot's own fields, composed when the frame is made (so editing the
//! bible or the style changes the next take without touching the shots).

use previz_core::ids::CharacterId;
use previz_core::project::Project;
use previz_core::script::{Character, IntExt};
use previz_core::shot::Shot;

/// The negative prompt used when the shot has none.
pub const DEFAULT_NEGATIVE: &str =
    "blurry, deformed, extra limbs, watermark, text, signature, jpeg artifacts";

/// A shot's prompt and who is in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShotPrompt {
    pub prompt: String,
    pub negative: String,
    /// Characters of the bible the shot's subject names, in the order named.
    pub characters: Vec<CharacterId>,
    /// The subject split into names as written (characters and objects).
    pub subjects: Vec<String>,
    /// The looks (LoRAs, reference pictures) of the characters shown, in the order named, each
    /// once.
    pub looks: Vec<previz_core::script::CharacterLook>,
}

/// Splits "MARA and JONAH", "Mara, Jonah & Tess" into names.
#[must_use]
pub fn subject_names(subject: &str) -> Vec<String> {
    subject
        .replace(" & ", ",")
        .replace(" and ", ",")
        .replace(" AND ", ",")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn matches_character(name: &str, c: &Character) -> bool {
    let key = name.trim().to_uppercase();
    // "Mara's hand", "MARA (O.S.)": the leading words name her.
    let head = key
        .split(['(', '\''])
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    std::iter::once(&c.name)
        .chain(&c.aliases)
        .any(|n| n.to_uppercase() == head)
}

/// The bible's words for a character: `Mara (30s), tall, grey stubble, rain-soaked coat`.
#[must_use]
pub fn bible_words(c: &Character) -> String {
    let mut s = title_case(&c.name);
    if !c.age.trim().is_empty() {
        s.push_str(&format!(" ({})", c.age.trim()));
    }
    for part in [&c.appearance, &c.wardrobe] {
        let p = part.trim().trim_end_matches('.');
        if !p.is_empty() {
            s.push_str(", ");
            s.push_str(p);
        }
    }
    s
}

fn title_case(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// Composes the prompt of `shot` in `project`.
#[must_use]
pub fn shot_prompt(project: &Project, shot: &Shot) -> ShotPrompt {
    let style = project.settings.style.prompt_text().trim().to_owned();
    let subjects = subject_names(&shot.subject);
    let characters: Vec<&Character> = subjects
        .iter()
        .filter_map(|n| {
            project
                .script
                .characters
                .iter()
                .find(|c| matches_character(n, c))
        })
        .collect();

    // The shot's own words: its prompt (without a style an older breakdown appended, so the
    // current style wins), or a description from its fields.
    let mut body = shot.prompt.trim().to_owned();
    for preset in previz_core::Style::NAMED {
        let text = preset.prompt_text();
        if let Some(stripped) = body.strip_suffix(text) {
            body = stripped
                .trim_end()
                .trim_end_matches(',')
                .trim_end()
                .to_owned();
        }
    }
    if body.is_empty() {
        let mut parts = Vec::new();
        let size = shot.size.map(|s| s.as_str().replace('_', " "));
        let angle = shot.angle.map(|a| a.as_str().replace('_', " "));
        let framing = [angle, size]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let who = if shot.subject.trim().is_empty() {
            String::new()
        } else {
            format!(" of {}", shot.subject.trim())
        };
        parts.push(format!(
            "{} shot{who}",
            if framing.is_empty() { "a" } else { &framing }
        ));
        let action = shot.action.trim().trim_end_matches('.');
        if !action.is_empty() {
            parts.push(action.to_owned());
        }
        if let Some(scene) = project.script.scene(shot.scene) {
            let h = &scene.heading;
            let place = h.location.trim().to_lowercase();
            if !place.is_empty() {
                parts.push(match h.int_ext {
                    Some(IntExt::Ext) => format!("exterior {place}"),
                    Some(_) => format!("interior {place}"),
                    None => place,
                });
            }
            if let Some(t) = &h.time_of_day {
                parts.push(t.to_lowercase());
            }
        }
        if let Some(lens) = shot.lens_mm.filter(|l| l.is_finite() && *l > 0.0) {
            parts.push(format!("{lens:.0}mm lens"));
        }
        body = parts.join(", ");
    }
    // Each character's bible words, unless the body already carries them.
    let body_lower = body.to_lowercase();
    let mut pieces = vec![body];
    for c in &characters {
        // A character LoRA's trigger words call it up; they lead the character's words.
        if let Some(trigger) = c.look.as_ref().map(|l| l.trigger.trim())
            && !trigger.is_empty()
            && !body_lower.contains(&trigger.to_lowercase())
        {
            pieces.push(trigger.to_owned());
        }
        let words = bible_words(c);
        let detail = [&c.appearance, &c.wardrobe]
            .iter()
            .map(|s| s.trim().to_lowercase())
            .find(|s| !s.is_empty());
        let already = detail.is_some_and(|d| body_lower.contains(&d));
        // A bare name adds nothing the subject does not already say.
        if !already && (words.contains(',') || words.contains('(')) {
            pieces.push(words);
        }
    }
    if !style.is_empty() {
        pieces.push(style);
    }
    let prompt = pieces
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let negative = if shot.negative_prompt.trim().is_empty() {
        DEFAULT_NEGATIVE.to_owned()
    } else {
        shot.negative_prompt.trim().to_owned()
    };
    let mut ids: Vec<CharacterId> = Vec::new();
    let mut looks = Vec::new();
    for c in characters {
        if !ids.contains(&c.id) {
            ids.push(c.id);
            if let Some(look) = c.look.clone().filter(|l| !l.is_empty()) {
                looks.push(look);
            }
        }
    }
    ShotPrompt {
        prompt,
        negative,
        characters: ids,
        subjects,
        looks,
    }
}
