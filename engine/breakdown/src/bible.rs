//! Character and location bibles, and the style presets every image prompt ends with.
//!
//! From the script alone, deterministically: a character's introduction in the action
//! ("MARA (30s, rain-soaked coat) ..." or "MARA, sixties, sharp-eyed, ...") gives an age
//! (a number, a decade, or an age word), wardrobe (phrases naming clothes) and appearance
//! (the rest). The first introduction found wins, scanning scenes in order, so a bible is
//! merged across scenes; fields someone filled by hand are never overwritten.

use previz_core::{Character, Project, ScriptElement};

/// Named looks for storyboard frames: (name, prompt text).
pub const STYLE_PRESETS: &[(&str, &str)] = &[
    (
        "pencil storyboard",
        "pencil storyboard sketch, black and white, loose confident lines, cinematic composition",
    ),
    (
        "ink and wash",
        "ink and wash storyboard drawing, grey washes, bold outlines",
    ),
    (
        "cinematic colour",
        "cinematic film still, natural colour, soft practical light, 35mm film grain",
    ),
    (
        "noir",
        "film noir, high-contrast black and white, hard shadows, low key light",
    ),
    (
        "animatic clean",
        "clean digital storyboard, flat shading, clear silhouettes",
    ),
];

/// The prompt text of a project's style setting: a preset by name, free text as written, the
/// first preset when empty.
#[must_use]
pub fn style_text(setting: &str) -> String {
    let key = setting.trim().to_lowercase();
    if key.is_empty() {
        return STYLE_PRESETS[0].1.to_owned();
    }
    STYLE_PRESETS
        .iter()
        .find(|(name, _)| *name == key)
        .map_or_else(|| setting.trim().to_owned(), |(_, text)| (*text).to_owned())
}

const CLOTHES: &[&str] = &[
    "coat", "jacket", "suit", "dress", "shirt", "blouse", "uniform", "hat", "cap", "boots",
    "shoes", "scarf", "tie", "jeans", "trousers", "sweater", "jumper", "overalls", "apron", "gown",
    "robe", "hoodie", "skirt", "vest", "cloak", "gloves", "glasses", "helmet", "raincoat",
];
const AGE_WORDS: &[&str] = &[
    "teen",
    "teens",
    "teenage",
    "twenties",
    "thirties",
    "forties",
    "fifties",
    "sixties",
    "seventies",
    "eighties",
    "young",
    "old",
    "elderly",
    "middle-aged",
    "child",
    "boy",
    "girl",
];

/// (age, appearance, wardrobe) from an introduction's description.
fn split_description(desc: &str) -> (String, Vec<String>, Vec<String>) {
    let mut age = String::new();
    let mut looks = Vec::new();
    let mut clothes = Vec::new();
    for part in desc
        .split([',', ';'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let lower = part.to_lowercase();
        let first = lower.split_whitespace().next().unwrap_or("");
        let is_age = first.chars().next().is_some_and(|c| c.is_ascii_digit())
            || (AGE_WORDS.contains(&first) && lower.split_whitespace().count() <= 2);
        if is_age && age.is_empty() {
            age = part.to_owned();
        } else if lower
            .split(|c: char| !c.is_alphabetic())
            .any(|w| CLOTHES.contains(&w) || CLOTHES.iter().any(|c| w.strip_suffix('s') == Some(c)))
        {
            clothes.push(part.to_owned());
        } else {
            looks.push(part.to_owned());
        }
    }
    (age, looks, clothes)
}

/// The description after a character's name in an introduction, if this paragraph has one.
fn introduction(text: &str, name: &str) -> Option<String> {
    let upper = name.to_uppercase();
    let at = text.find(&upper)?;
    let rest = &text[at + upper.len()..];
    if let Some(inner) = rest.strip_prefix(" (").or_else(|| rest.strip_prefix('(')) {
        let end = inner.find(')')?;
        return Some(inner[..end].to_owned());
    }
    if let Some(after) = rest.strip_prefix(", ") {
        // "MARA, thirties, sharp-eyed, watches." -> up to the clause with the verb: the end of the
        // sentence, minus its last comma-separated part when that has a verb-like word.
        let sentence = after.split(['.', '!', '?']).next().unwrap_or("");
        let parts: Vec<&str> = sentence.split(',').collect();
        if parts.len() >= 2 {
            return Some(parts[..parts.len() - 1].join(","));
        }
    }
    None
}

/// The characters of `project` with empty bible fields filled from the script; `None` when
/// nothing would change.
#[must_use]
pub fn derive_characters(project: &Project) -> Option<Vec<Character>> {
    let mut characters = project.script.characters.clone();
    let mut changed = false;
    for c in &mut characters {
        for scene in &project.script.scenes {
            let found = scene.elements.iter().find_map(|e| match e {
                ScriptElement::Action { text, .. } => introduction(&text.text, &c.name),
                _ => None,
            });
            let Some(desc) = found else { continue };
            let (age, looks, clothes) = split_description(&desc);
            if c.age.is_empty() && !age.is_empty() {
                c.age = age;
                changed = true;
            }
            if c.appearance.is_empty() && !looks.is_empty() {
                c.appearance = looks.join(", ");
                changed = true;
            }
            if c.wardrobe.is_empty() && !clothes.is_empty() {
                c.wardrobe = clothes.join(", ");
                changed = true;
            }
            break;
        }
    }
    changed.then_some(characters)
}

/// What an image prompt says about a character: "MARA, 30s, sharp-eyed, rain-soaked coat".
#[must_use]
pub fn character_prompt(c: &Character) -> Option<String> {
    let parts: Vec<&str> = [
        c.age.as_str(),
        c.appearance.as_str(),
        c.wardrobe.as_str(),
        c.description.as_str(),
    ]
    .into_iter()
    .filter(|s| !s.trim().is_empty())
    .collect();
    (!parts.is_empty()).then(|| format!("{} ({})", c.name, parts.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn introductions_give_age_looks_and_wardrobe() {
        let d = introduction(
            "The door opens. MARA (30s, sharp-eyed, rain-soaked coat) steps in.",
            "Mara",
        )
        .unwrap();
        let (age, looks, clothes) = split_description(&d);
        assert_eq!(age, "30s");
        assert_eq!(looks, vec!["sharp-eyed"]);
        assert_eq!(clothes, vec!["rain-soaked coat"]);
        let d = introduction(
            "ODILE, sixties, weathered, in a salt-stained apron, counts the trees.",
            "Odile",
        )
        .unwrap();
        let (age, looks, clothes) = split_description(&d);
        assert_eq!(age, "sixties");
        assert_eq!(looks, vec!["weathered"]);
        assert_eq!(clothes, vec!["in a salt-stained apron"]);
        assert!(introduction("Mara waits.", "Mara").is_none());
    }

    #[test]
    fn styles_resolve_by_name_or_free_text() {
        assert!(style_text("").starts_with("pencil storyboard"));
        assert!(style_text("Noir").starts_with("film noir"));
        assert_eq!(style_text("watercolour, pastel"), "watercolour, pastel");
    }
}
