//! The screenplay as the project holds it: title page, scenes in order, their elements, and the
//! cast and locations derived from them.
//!
//! This mirrors the Fountain element set closely enough that Fountain → document → Fountain is
//! lossless, and adds what the rest of the studio needs: stable ids on scenes and on every speech
//! of dialogue (shots point at them), characters and locations as first-class objects.

use serde::{Deserialize, Serialize};

use crate::Extra;
use crate::ids::{CharacterId, LineId, LocationId, SceneId};

/// Text with optional emphasis runs (Fountain's `*italic*`, `**bold**`, `_underline_`) and the
/// writer's inline notes (`[[...]]`).
///
/// `text` is what a reader sees; `spans`, when present, cut the same text into styled runs (their
/// concatenation equals `text`); `notes` are inline notes that were written inside the element.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichText {
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<StyledSpan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl RichText {
    /// Unstyled text.
    #[must_use]
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            spans: Vec::new(),
            notes: Vec::new(),
        }
    }
}

impl From<&str> for RichText {
    fn from(text: &str) -> Self {
        Self::plain(text)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One styled run of a [`RichText`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StyledSpan {
    pub text: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub bold: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub italic: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub underline: bool,
}

/// One `Key: value` of the title page, in file order. Multi-line values are joined with `\n`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TitleField {
    pub key: String,
    pub value: String,
    /// Styled runs of `value`, when some of it is emphasised.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<StyledSpan>,
}

/// Where the script came from (the last imported draft).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptSource {
    /// File name as given at import (not a path: projects move between machines).
    pub file_name: String,
    /// `fountain` or `fdx`.
    pub format: String,
    /// blake3 of the imported bytes, hex.
    pub content_hash: String,
    pub imported_at: jiff::Timestamp,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Interior / exterior prefix of a scene heading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntExt {
    Int,
    Ext,
    /// `INT./EXT.`, `INT/EXT`, `I/E`, `EXT./INT.`, `E/I`.
    IntExt,
    /// `EST.` (establishing).
    Est,
}

impl IntExt {
    /// The conventional prefix.
    #[must_use]
    pub fn prefix(self) -> &'static str {
        match self {
            IntExt::Int => "INT.",
            IntExt::Ext => "EXT.",
            IntExt::IntExt => "INT./EXT.",
            IntExt::Est => "EST.",
        }
    }
}

/// A scene heading, as written and as understood.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SceneHeading {
    /// The heading as written, without a forcing `.` and without the `#number#`.
    pub text: String,
    /// Written with a leading `.` (no INT/EXT prefix needed).
    #[serde(default, skip_serializing_if = "is_false")]
    pub forced: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int_ext: Option<IntExt>,
    /// The location part (`HOUSE - KITCHEN` in `INT. HOUSE - KITCHEN - NIGHT`).
    pub location: String,
    /// The time of day (`NIGHT`), when the last dash-separated part names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_of_day: Option<String>,
    /// Styled runs of `text`, when the heading is emphasised.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<StyledSpan>,
    /// Inline notes written in the heading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Words that mark the last ` - ` part of a heading as a time of day rather than a sub-location.
const TIME_WORDS: &[&str] = &[
    "DAY",
    "NIGHT",
    "MORNING",
    "AFTERNOON",
    "EVENING",
    "DAWN",
    "DUSK",
    "SUNRISE",
    "SUNSET",
    "NOON",
    "MIDNIGHT",
    "TWILIGHT",
    "CONTINUOUS",
    "LATER",
    "SAME",
    "SAME TIME",
    "MOMENTS LATER",
    "MOMENTS EARLIER",
    "EARLIER",
    "MAGIC HOUR",
    "GOLDEN HOUR",
    "LATE NIGHT",
    "EARLY MORNING",
    "PRE-DAWN",
    "NIGHTFALL",
    "DAYBREAK",
    "FLASHBACK",
];

impl SceneHeading {
    /// Understands a heading's text: its INT/EXT prefix, location and time of day.
    #[must_use]
    pub fn parse(text: &str, forced: bool) -> Self {
        let trimmed = text.trim();
        let (int_ext, rest) = split_prefix(trimmed);
        let rest = rest.trim();
        let (location, time_of_day) =
            match rest.rsplit_once(" - ").or_else(|| rest.rsplit_once(" – ")) {
                Some((loc, tail)) if looks_like_time(tail) => {
                    (loc.trim().to_owned(), Some(tail.trim().to_owned()))
                }
                _ if rest.is_empty() => (String::new(), None),
                _ => (rest.to_owned(), None),
            };
        Self {
            text: trimmed.to_owned(),
            forced,
            int_ext,
            location,
            time_of_day,
            spans: Vec::new(),
            notes: Vec::new(),
        }
    }
}

fn looks_like_time(tail: &str) -> bool {
    let upper = tail.trim().to_uppercase();
    // "DAY (FLASHBACK)", "NIGHT - 1985": judge by the first word group.
    let head = upper.split(['(', ',']).next().unwrap_or("").trim();
    TIME_WORDS.contains(&head)
        || TIME_WORDS
            .iter()
            .any(|w| head.starts_with(w) && head[w.len()..].starts_with(' '))
        || head.ends_with(" DAY")
        || head.ends_with(" NIGHT")
        || head.ends_with(" LATER")
}

fn split_prefix(text: &str) -> (Option<IntExt>, &str) {
    // Longest prefixes first so INT./EXT. is not read as INT.
    const PREFIXES: &[(&str, IntExt)] = &[
        ("INT./EXT.", IntExt::IntExt),
        ("INT./EXT", IntExt::IntExt),
        ("INT/EXT.", IntExt::IntExt),
        ("INT/EXT", IntExt::IntExt),
        ("EXT./INT.", IntExt::IntExt),
        ("EXT./INT", IntExt::IntExt),
        ("EXT/INT.", IntExt::IntExt),
        ("EXT/INT", IntExt::IntExt),
        ("I/E.", IntExt::IntExt),
        ("I/E", IntExt::IntExt),
        ("E/I.", IntExt::IntExt),
        ("E/I", IntExt::IntExt),
        ("INT.", IntExt::Int),
        ("INT", IntExt::Int),
        ("EXT.", IntExt::Ext),
        ("EXT", IntExt::Ext),
        ("EST.", IntExt::Est),
        ("EST", IntExt::Est),
    ];
    for (prefix, kind) in PREFIXES {
        if let Some(head) = text.get(..prefix.len())
            && head.eq_ignore_ascii_case(prefix)
        {
            let rest = &text[prefix.len()..];
            // A prefix must end the word: "INTERIOR" is not "INT".
            if rest.is_empty() || rest.starts_with([' ', '\t', '.', '-']) || prefix.ends_with('.') {
                return (Some(*kind), rest.trim_start_matches(['.', ' ', '\t']));
            }
        }
    }
    (None, text)
}

/// Side of a dual-dialogue pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DualSide {
    Left,
    Right,
}

/// One speech: a character cue, then parentheticals, lines and lyrics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogueBlock {
    /// Stable id: shots cover dialogue by these ids; revisions keep them.
    pub id: LineId,
    /// The speaker, once the cast is indexed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub character: Option<CharacterId>,
    /// The name as written in the cue, without extensions.
    pub cue: String,
    /// Extensions as written inside their parentheses: `V.O.`, `O.S.`, `CONT'D`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
    /// Written with `@` (a name the plain syntax would not recognise).
    #[serde(default, skip_serializing_if = "is_false")]
    pub forced: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dual: Option<DualSide>,
    /// Inline notes written on the cue line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub parts: Vec<DialoguePart>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl DialogueBlock {
    /// The spoken words (lines and lyrics, without parentheticals), joined by spaces.
    #[must_use]
    pub fn spoken_text(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            if let DialoguePart::Line(t) | DialoguePart::Lyrics(t) = part {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&t.text);
            }
        }
        out
    }
}

/// A piece of a speech.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DialoguePart {
    /// `(beat)`, with its parentheses.
    Parenthetical(RichText),
    /// Spoken lines (several source lines joined with `\n`).
    Line(RichText),
    /// Sung lines (`~`).
    Lyrics(RichText),
}

/// An element of a scene's body (or of the front matter before the first scene).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScriptElement {
    Action {
        #[serde(flatten)]
        text: RichText,
        #[serde(default, skip_serializing_if = "is_false")]
        forced: bool,
    },
    Dialogue(DialogueBlock),
    Transition {
        #[serde(flatten)]
        text: RichText,
        #[serde(default, skip_serializing_if = "is_false")]
        forced: bool,
    },
    Centered {
        #[serde(flatten)]
        text: RichText,
    },
    Lyrics {
        #[serde(flatten)]
        text: RichText,
    },
    Section {
        #[serde(flatten)]
        text: RichText,
        depth: u8,
    },
    Synopsis {
        #[serde(flatten)]
        text: RichText,
    },
    Note {
        text: String,
    },
    PageBreak,
}

/// A scene: heading, body, and where it stands in the production.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub id: SceneId,
    /// The scene number written in the script (`#12A#`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    pub heading: SceneHeading,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationId>,
    #[serde(default)]
    pub elements: Vec<ScriptElement>,
    /// Cut from the current draft but kept, with its shots and takes, as productions keep
    /// "OMITTED" scenes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub omitted: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Scene {
    /// A scene with a heading and no body.
    #[must_use]
    pub fn new(heading: SceneHeading) -> Self {
        Self {
            id: SceneId::new(),
            number: None,
            heading,
            location: None,
            elements: Vec::new(),
            omitted: false,
            extra: Extra::new(),
        }
    }

    /// The speeches of the scene in order.
    pub fn dialogue(&self) -> impl Iterator<Item = &DialogueBlock> {
        self.elements.iter().filter_map(|e| match e {
            ScriptElement::Dialogue(d) => Some(d),
            _ => None,
        })
    }
}

/// A character of the script.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Character {
    pub id: CharacterId,
    /// The canonical cue name (`MARA`).
    pub name: String,
    /// Other cue names that are the same person (`YOUNG MARA`, `MARA'S VOICE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Every extension seen on the cue (`V.O.`, `O.S.`), first seen first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions_seen: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The character bible: how old they look (`30s`), as the script or the user says.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub age: String,
    /// What they look like (`tall, grey stubble`), for every image prompt they are in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub appearance: String,
    /// What they wear (`rain-soaked coat`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wardrobe: String,
    /// The voice cast for their dialogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<Casting>,
    /// How the image model keeps them recognisable from shot to shot (a LoRA trained on them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub look: Option<CharacterLook>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A character's look for the image model: a LoRA adapter trained on them, merged when a shot
/// shows them, and the words that call it up; and/or a reference picture of them, shown to the
/// image model through an IP-Adapter (no training needed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharacterLook {
    /// The LoRA file (`.safetensors`), relative to the project folder and inside it
    /// (`looks/mara.safetensors`); empty for a look that is only a reference picture.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lora: String,
    /// Its strength in percent (100 = as trained; 60 = lighter).
    #[serde(default = "hundred")]
    pub scale_percent: u32,
    /// Trigger words the LoRA was trained with (`m4ra woman`), put before the bible's words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trigger: String,
    /// A reference picture (PNG or JPEG), relative to the project folder and inside it
    /// (`looks/mara.png`): the shots that show them are drawn with it through an IP-Adapter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reference: String,
    /// How strongly the picture steers, in percent (60 leaves room for the prompt; 100 as
    /// trained).
    #[serde(default = "sixty", skip_serializing_if = "is_sixty")]
    pub reference_percent: u32,
}

fn sixty() -> u32 {
    60
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_sixty(v: &u32) -> bool {
    *v == 60
}

impl CharacterLook {
    /// A LoRA at full strength without trigger words.
    #[must_use]
    pub fn new(lora: impl Into<String>) -> Self {
        Self {
            lora: lora.into(),
            scale_percent: 100,
            trigger: String::new(),
            reference: String::new(),
            reference_percent: 60,
        }
    }

    /// A reference picture alone, at the default strength.
    #[must_use]
    pub fn reference(picture: impl Into<String>) -> Self {
        Self {
            reference: picture.into(),
            ..Self::new("")
        }
    }

    /// Whether it says anything (a LoRA or a picture).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lora.trim().is_empty() && self.reference.trim().is_empty()
    }
}

/// A character's voice: which voice speaks their lines, and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Casting {
    /// A TTS model id from the registry (`en-us-joe-medium`), or `espeak:<voice>` for one of
    /// espeak-ng's own voices (`espeak:en-us`, `espeak:en-gb+f3`).
    pub voice: String,
    /// A speaker of a multi-speaker voice, by name or number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// Speaking rate in percent of the voice's own pace (100; 120 is 20% faster).
    #[serde(default = "hundred")]
    pub speed_percent: u32,
    /// Pitch shift in semitones (−12..=12), keeping the timing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pitch_semitones: i32,
}

fn hundred() -> u32 {
    100
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

impl Casting {
    /// A voice at its own pace and pitch.
    #[must_use]
    pub fn new(voice: impl Into<String>) -> Self {
        Self {
            voice: voice.into(),
            speaker: None,
            speed_percent: 100,
            pitch_semitones: 0,
        }
    }
}

/// One editable bible field of a character with its new value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", content = "value", rename_all = "snake_case")]
pub enum CharacterField {
    Description(String),
    Age(String),
    Appearance(String),
    Wardrobe(String),
    Voice(Option<Casting>),
    Look(Option<CharacterLook>),
}

impl CharacterField {
    /// The field's name in labels (`age`).
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            CharacterField::Description(_) => "description",
            CharacterField::Age(_) => "age",
            CharacterField::Appearance(_) => "appearance",
            CharacterField::Wardrobe(_) => "wardrobe",
            CharacterField::Voice(_) => "voice",
            CharacterField::Look(_) => "look",
        }
    }
}

impl Character {
    /// Writes one bible field and returns the previous value.
    pub fn set_field(&mut self, field: CharacterField) -> CharacterField {
        match field {
            CharacterField::Description(v) => {
                CharacterField::Description(std::mem::replace(&mut self.description, v))
            }
            CharacterField::Age(v) => CharacterField::Age(std::mem::replace(&mut self.age, v)),
            CharacterField::Appearance(v) => {
                CharacterField::Appearance(std::mem::replace(&mut self.appearance, v))
            }
            CharacterField::Wardrobe(v) => {
                CharacterField::Wardrobe(std::mem::replace(&mut self.wardrobe, v))
            }
            CharacterField::Voice(v) => {
                CharacterField::Voice(std::mem::replace(&mut self.voice, v))
            }
            CharacterField::Look(v) => CharacterField::Look(std::mem::replace(&mut self.look, v)),
        }
    }

    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            id: CharacterId::new(),
            name: name.into(),
            aliases: Vec::new(),
            extensions_seen: Vec::new(),
            description: String::new(),
            age: String::new(),
            appearance: String::new(),
            wardrobe: String::new(),
            voice: None,
            look: None,
            extra: Extra::new(),
        }
    }

    /// Whether a cue name refers to this character (case-insensitive, aliases included).
    #[must_use]
    pub fn answers_to(&self, cue: &str) -> bool {
        let key = cue_key(cue);
        cue_key(&self.name) == key || self.aliases.iter().any(|a| cue_key(a) == key)
    }
}

/// The comparable form of a cue name: trimmed, upper-case, single spaces.
#[must_use]
pub fn cue_key(cue: &str) -> String {
    cue.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// A location of the script.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub id: LocationId,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The whole screenplay.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Script {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub title_page: Vec<TitleField>,
    /// Elements before the first scene heading (cold opens written as action, title cards...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub front_matter: Vec<ScriptElement>,
    #[serde(default)]
    pub scenes: Vec<Scene>,
    #[serde(default)]
    pub characters: Vec<Character>,
    #[serde(default)]
    pub locations: Vec<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ScriptSource>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Script {
    /// The title from the title page, if any.
    #[must_use]
    pub fn title(&self) -> Option<&str> {
        self.title_page
            .iter()
            .find(|f| f.key.eq_ignore_ascii_case("title"))
            .map(|f| f.value.as_str())
    }

    /// The title on one line (a title page may break it over several), for window titles and
    /// project names.
    #[must_use]
    pub fn title_line(&self) -> Option<String> {
        let line = self
            .title()?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!line.is_empty()).then_some(line)
    }

    #[must_use]
    pub fn scene(&self, id: SceneId) -> Option<&Scene> {
        self.scenes.iter().find(|s| s.id == id)
    }

    #[must_use]
    pub fn scene_index(&self, id: SceneId) -> Option<usize> {
        self.scenes.iter().position(|s| s.id == id)
    }

    /// The numbers people use for scenes: the written number, else the running count of the
    /// scenes in the current draft (omitted scenes keep a written number or get none).
    #[must_use]
    pub fn display_numbers(&self) -> Vec<Option<String>> {
        let mut count = 0usize;
        self.scenes
            .iter()
            .map(|s| {
                if s.omitted {
                    return s.number.clone();
                }
                count += 1;
                Some(s.number.clone().unwrap_or_else(|| count.to_string()))
            })
            .collect()
    }

    /// Finds a speech and its scene.
    #[must_use]
    pub fn dialogue(&self, id: LineId) -> Option<(&Scene, &DialogueBlock)> {
        self.scenes
            .iter()
            .find_map(|scene| scene.dialogue().find(|d| d.id == id).map(|d| (scene, d)))
    }

    #[must_use]
    pub fn character(&self, id: CharacterId) -> Option<&Character> {
        self.characters.iter().find(|c| c.id == id)
    }

    /// Derives the cast and the locations from the elements: every cue gets its character
    /// (existing characters are matched by name or alias and keep their ids and descriptions),
    /// every scene its location. Characters and locations no longer used are kept: they may carry
    /// a voice or a description someone wrote.
    pub fn index_cast(&mut self) {
        let Script {
            front_matter,
            scenes,
            characters,
            locations,
            ..
        } = self;
        let mut bind = |block: &mut DialogueBlock| {
            if block.cue.trim().is_empty() {
                block.character = None;
                return;
            }
            let index = match characters.iter().position(|c| c.answers_to(&block.cue)) {
                Some(i) => i,
                None => {
                    // The name as written (a forced `@McCLANE` keeps its case); matching is
                    // case-insensitive.
                    let name = block.cue.split_whitespace().collect::<Vec<_>>().join(" ");
                    characters.push(Character::new(name));
                    characters.len() - 1
                }
            };
            let character = &mut characters[index];
            for ext in &block.extensions {
                let ext_key = ext.trim().to_uppercase();
                if !character
                    .extensions_seen
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(&ext_key))
                {
                    character.extensions_seen.push(ext_key);
                }
            }
            block.character = Some(character.id);
        };
        for element in front_matter.iter_mut() {
            if let ScriptElement::Dialogue(block) = element {
                bind(block);
            }
        }
        for scene in scenes.iter_mut() {
            for element in &mut scene.elements {
                if let ScriptElement::Dialogue(block) = element {
                    bind(block);
                }
            }
            let name = cue_key(&scene.heading.location);
            if name.is_empty() {
                scene.location = None;
                continue;
            }
            let location = match locations.iter().find(|l| cue_key(&l.name) == name) {
                Some(l) => l.id,
                None => {
                    let location = Location {
                        id: LocationId::new(),
                        name,
                        description: String::new(),
                        extra: Extra::new(),
                    };
                    let id = location.id;
                    locations.push(location);
                    id
                }
            };
            scene.location = Some(location);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_split_into_prefix_location_and_time() {
        let h = SceneHeading::parse("INT. HOUSE - KITCHEN - NIGHT", false);
        assert_eq!(h.int_ext, Some(IntExt::Int));
        assert_eq!(h.location, "HOUSE - KITCHEN");
        assert_eq!(h.time_of_day.as_deref(), Some("NIGHT"));

        let h = SceneHeading::parse("int./ext. car (moving) - continuous", false);
        assert_eq!(h.int_ext, Some(IntExt::IntExt));
        assert_eq!(h.location, "car (moving)");
        assert_eq!(h.time_of_day.as_deref(), Some("continuous"));

        let h = SceneHeading::parse("I/E TRAIN - DAY (FLASHBACK)", false);
        assert_eq!(h.int_ext, Some(IntExt::IntExt));
        assert_eq!(h.location, "TRAIN");
        assert_eq!(h.time_of_day.as_deref(), Some("DAY (FLASHBACK)"));

        let h = SceneHeading::parse("EXT. HARBOUR - PIER 9", false);
        assert_eq!(h.location, "HARBOUR - PIER 9");
        assert_eq!(h.time_of_day, None);

        let h = SceneHeading::parse("SPACE STATION", true);
        assert_eq!(h.int_ext, None);
        assert_eq!(h.location, "SPACE STATION");

        let h = SceneHeading::parse("EST. MANHATTAN SKYLINE - DAWN", false);
        assert_eq!(h.int_ext, Some(IntExt::Est));
        assert_eq!(h.location, "MANHATTAN SKYLINE");

        // "INTERIOR" is a word, not the INT prefix.
        assert_eq!(
            SceneHeading::parse("INTERIOR MONOLOGUE", true).int_ext,
            None
        );
    }

    fn speech(cue: &str, ext: &[&str]) -> ScriptElement {
        ScriptElement::Dialogue(DialogueBlock {
            id: LineId::new(),
            character: None,
            cue: cue.to_owned(),
            extensions: ext.iter().map(|e| (*e).to_owned()).collect(),
            forced: false,
            dual: None,
            notes: Vec::new(),
            parts: vec![DialoguePart::Line("Hello.".into())],
            extra: Extra::new(),
        })
    }

    #[test]
    fn index_cast_binds_cues_and_keeps_existing_characters() {
        let mut scene = Scene::new(SceneHeading::parse("INT. LAB - DAY", false));
        scene.elements = vec![
            speech("MARA", &["V.O."]),
            speech("mara", &[]),
            speech("OTTO", &[]),
        ];
        let mut script = Script {
            scenes: vec![scene],
            ..Script::default()
        };
        let mut existing = Character::new("OTTO");
        existing.description = "A tired technician".into();
        let otto = existing.id;
        script.characters.push(existing);
        script.index_cast();
        assert_eq!(script.characters.len(), 2);
        let mara = script.characters.iter().find(|c| c.name == "MARA").unwrap();
        assert_eq!(mara.extensions_seen, vec!["V.O."]);
        let ids: Vec<_> = script.scenes[0].dialogue().map(|d| d.character).collect();
        assert_eq!(ids, vec![Some(mara.id), Some(mara.id), Some(otto)]);
        assert_eq!(script.locations.len(), 1);
        assert_eq!(script.scenes[0].location, Some(script.locations[0].id));
    }

    #[test]
    fn display_numbers_skip_omitted_scenes() {
        let mut a = Scene::new(SceneHeading::parse("INT. A - DAY", false));
        let mut b = Scene::new(SceneHeading::parse("INT. B - DAY", false));
        let c = Scene::new(SceneHeading::parse("INT. C - DAY", false));
        b.omitted = true;
        a.number = Some("1A".into());
        let script = Script {
            scenes: vec![a, b, c],
            ..Script::default()
        };
        assert_eq!(
            script.display_numbers(),
            vec![Some("1A".into()), None, Some("2".into())]
        );
    }
}
