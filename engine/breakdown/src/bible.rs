//! The rule-based character bible: what the script itself says about each character.
//!
//! A character's introduction is their name in CAPS in an action line, often followed by a
//! parenthetical: `MARA (30s, rain-soaked coat) steps in.` The parenthetical's parts are sorted:
//! an age (`30s`, `mid-40s`, `12`, `sixty`...) goes to `age`; parts naming clothing (coat, dress,
//! suit, hat...) go to `wardrobe`; the rest to `appearance`. Failing a parenthetical, the clause
//! after the name up to the sentence end (`MARA, a tired detective, ...`) is the appearance.
//! The rest of a full name in CAPS after the cue name is skipped. Scenes are read in order and the first value found for each field wins (introductions come
//! first); later scenes only fill fields still empty. Deterministic: same script, same bible.

use std::collections::BTreeMap;

use previz_core::LocationId;

use previz_core::{CharacterField, EditCommand, Project, ScriptElement, cue_key};
use serde::{Deserialize, Serialize};

/// What the bible knows about one character.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharacterSketch {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub age: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub appearance: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wardrobe: String,
}

impl CharacterSketch {
    /// The words an image prompt uses for this character: `MARA (30s, tall, rain-soaked coat)`.
    #[must_use]
    pub fn prompt_words(&self) -> String {
        let parts: Vec<&str> = [
            self.age.as_str(),
            self.appearance.as_str(),
            self.wardrobe.as_str(),
        ]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
        let name = title_case(&self.name);
        if parts.is_empty() {
            name
        } else {
            format!("{name} ({})", parts.join(", "))
        }
    }
}

/// `MARA JONES` → `Mara Jones`.
#[must_use]
pub fn title_case(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

const WARDROBE: &[&str] = &[
    "coat", "jacket", "dress", "suit", "shirt", "hat", "cap", "uniform", "scarf", "boots", "shoes",
    "jeans", "trousers", "skirt", "hoodie", "sweater", "gown", "robe", "tie", "glasses", "apron",
    "overalls", "vest", "cloak", "gloves", "cardigan", "helmet", "blazer", "parka", "overcoat",
    "beanie", "trench", "kimono", "sari", "hijab", "sneakers", "heels", "bandana", "pyjamas",
    "pajamas", "blouse", "tuxedo", "raincoat",
];

const NUMBER_WORDS: &[&str] = &[
    "twenties",
    "thirties",
    "forties",
    "fifties",
    "sixties",
    "seventies",
    "eighties",
    "teens",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
];

fn is_age(part: &str) -> bool {
    let p = part.trim().to_lowercase();
    let digits = p.chars().any(|c| c.is_ascii_digit());
    let words = p
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .count();
    (digits && words <= 3 && !p.contains('%'))
        || p.ends_with("years old")
        || p.ends_with("year old")
        || NUMBER_WORDS
            .iter()
            .any(|w| p.split(|c: char| !c.is_alphanumeric()).any(|x| x == *w))
            && words <= 3
}

fn is_wardrobe(part: &str) -> bool {
    let p = part.to_lowercase();
    p.split(|c: char| !c.is_alphanumeric()).any(|w| {
        WARDROBE
            .iter()
            .any(|x| w == *x || w.strip_suffix('s') == Some(x))
    })
}

/// Finds `NAME` as a whole upper-case word run in `text`; returns the byte after it.
fn find_caps_name(text: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = text[from..].find(name) {
        let start = from + pos;
        let end = start + name.len();
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after_ok = text[end..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric() && c != '\'');
        if before_ok && after_ok {
            return Some(end);
        }
        from = end;
    }
    None
}

/// What an introduction says right after the name.
fn introduction(after: &str) -> Option<Vec<String>> {
    // The rest of a full name in CAPS (`JONAH PRICE (60s...)` for the cue `JONAH`).
    let mut rest = after.trim_start();
    while let Some(word) = rest.split_whitespace().next() {
        let letters = word.chars().filter(|c| c.is_alphabetic()).count();
        if letters >= 2
            && word
                .chars()
                .all(|c| c.is_uppercase() || c == '.' || c == '-' || c == '\'')
        {
            rest = rest[word.len()..].trim_start();
        } else {
            break;
        }
    }
    if let Some(inner) = rest.strip_prefix('(') {
        let close = inner.find(')')?;
        return Some(
            inner[..close]
                .split([',', ';'])
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        );
    }
    if let Some(clause) = rest.strip_prefix(',') {
        let end = clause.find([',', '.', ';', '\n']).unwrap_or(clause.len());
        let clause = clause[..end].trim();
        let lower = clause.to_lowercase();
        if lower.starts_with("a ") || lower.starts_with("an ") || lower.starts_with("the ") {
            return Some(vec![clause.to_owned()]);
        }
    }
    None
}

/// The bible derived from the script, keyed by canonical cue name.
#[must_use]
pub fn derive(project: &Project) -> BTreeMap<String, CharacterSketch> {
    let mut bible: BTreeMap<String, CharacterSketch> = BTreeMap::new();
    // What the user wrote in the bible wins; the script only fills empty fields.
    for c in &project.script.characters {
        bible.insert(
            cue_key(&c.name),
            CharacterSketch {
                name: cue_key(&c.name),
                age: c.age.clone(),
                appearance: c.appearance.clone(),
                wardrobe: c.wardrobe.clone(),
            },
        );
    }
    let names: Vec<(String, Vec<String>)> = project
        .script
        .characters
        .iter()
        .map(|c| {
            let mut all = vec![cue_key(&c.name)];
            all.extend(c.aliases.iter().map(|a| cue_key(a)));
            (cue_key(&c.name), all)
        })
        .collect();
    for scene in project.script.scenes.iter().filter(|s| !s.omitted) {
        for element in &scene.elements {
            let ScriptElement::Action { text, .. } = element else {
                continue;
            };
            for (key, spellings) in &names {
                for spelling in spellings {
                    let Some(end) = find_caps_name(&text.text, spelling) else {
                        continue;
                    };
                    let Some(parts) = introduction(&text.text[end..]) else {
                        continue;
                    };
                    let entry = bible.entry(key.clone()).or_default();
                    let (mut age, mut look, mut wear) = (Vec::new(), Vec::new(), Vec::new());
                    for p in parts {
                        if is_age(&p) {
                            age.push(p);
                        } else if is_wardrobe(&p) {
                            wear.push(p);
                        } else {
                            look.push(p);
                        }
                    }
                    fill(&mut entry.age, &age);
                    fill(&mut entry.appearance, &look);
                    fill(&mut entry.wardrobe, &wear);
                }
            }
        }
    }
    bible
}

fn fill(field: &mut String, parts: &[String]) {
    if field.is_empty() && !parts.is_empty() {
        *field = parts.join(", ");
    }
}

/// The commands that write what the script says into the characters' empty bible fields (one
/// batch, one undo step), or `None` when there is nothing to add. Fields the user filled are
/// never overwritten.
#[must_use]
pub fn fill_command(project: &Project) -> Option<EditCommand> {
    let bible = derive(project);
    let mut commands = Vec::new();
    for c in &project.script.characters {
        let Some(sketch) = bible.get(&cue_key(&c.name)) else {
            continue;
        };
        for (current, derived, field) in [
            (&c.age, &sketch.age, CharacterField::Age(sketch.age.clone())),
            (
                &c.appearance,
                &sketch.appearance,
                CharacterField::Appearance(sketch.appearance.clone()),
            ),
            (
                &c.wardrobe,
                &sketch.wardrobe,
                CharacterField::Wardrobe(sketch.wardrobe.clone()),
            ),
        ] {
            if current.is_empty() && !derived.is_empty() {
                commands.push(EditCommand::EditCharacter {
                    character: c.id,
                    field,
                });
            }
        }
    }
    for (location, description) in location_descriptions(project) {
        if project
            .script
            .locations
            .iter()
            .any(|l| l.id == location && l.description.trim().is_empty())
        {
            commands.push(EditCommand::EditLocation {
                location,
                description,
            });
        }
    }
    (!commands.is_empty()).then(|| EditCommand::Batch {
        label: "Character bible from the script".to_owned(),
        commands,
    })
}

/// The location bible from the script: each location's description is the first sentence of
/// action that introduces no one (no word in CAPS) in the first scene set there (screenplays
/// describe a place on arrival), cut at 160 characters. Deterministic; the user's descriptions are not consulted.
#[must_use]
pub fn location_descriptions(project: &Project) -> BTreeMap<LocationId, String> {
    let mut out = BTreeMap::new();
    for scene in project.script.scenes.iter().filter(|s| !s.omitted) {
        let Some(location) = scene.location else {
            continue;
        };
        if out.contains_key(&location) {
            continue;
        }
        // The first sentence of the scene's action that introduces no one (no word in CAPS).
        let first = scene
            .elements
            .iter()
            .filter_map(|e| match e {
                ScriptElement::Action { text, .. } => Some(text.text.as_str()),
                _ => None,
            })
            .flat_map(|t| t.split_inclusive(['.', '!', '?', '\n']))
            .map(str::trim)
            .find(|s| !s.is_empty() && !names_someone(s));
        if let Some(sentence) = first {
            out.insert(location, sentence.chars().take(160).collect());
        }
    }
    out
}

fn names_someone(sentence: &str) -> bool {
    sentence.split_whitespace().any(|w| {
        let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
        letters.len() >= 2 && letters.iter().all(|c| c.is_uppercase())
    })
}
