//! What an engine knows about the scene it breaks down.

use previz_core::{
    Character, CharacterId, IntExt, LineId, Project, Rate, Scene, ScriptElement, cue_key,
};

/// One speech of the scene, numbered from 1 in prompts and plans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneLine {
    pub id: LineId,
    pub character: Option<CharacterId>,
    pub cue: String,
    pub text: String,
}

/// A paragraph of the scene body in order: action or a speech (by index into `lines`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Beat {
    Action(String),
    Speech(usize),
}

/// A scene, prepared for an engine.
#[derive(Clone, Debug)]
pub struct SceneInput {
    /// Position in the script (0-based) and the number shown to people.
    pub index: usize,
    pub number: String,
    pub heading: String,
    pub location: String,
    pub time_of_day: Option<String>,
    pub exterior: bool,
    /// Whether the location differs from the previous scene's (calls for an establishing shot).
    pub new_location: bool,
    pub beats: Vec<Beat>,
    pub lines: Vec<SceneLine>,
    /// Characters present: those who speak, then those named in capitals in the action.
    pub characters: Vec<Character>,
    /// Every character of the script (to tell a misplaced character from a prop).
    pub all_characters: Vec<Character>,
    pub rate: Rate,
}

impl SceneInput {
    /// Prepares scene `index` of `project`; `None` if there is no such scene.
    #[must_use]
    pub fn new(project: &Project, index: usize) -> Option<Self> {
        let scenes = &project.script.scenes;
        let scene: &Scene = scenes.get(index)?;
        let numbers = project.script.display_numbers();
        let number = numbers
            .get(index)
            .cloned()
            .flatten()
            .unwrap_or_else(|| (index + 1).to_string());
        let previous = scenes[..index].iter().rev().find(|s| !s.omitted);
        let new_location = previous
            .is_none_or(|p| cue_key(&p.heading.location) != cue_key(&scene.heading.location));
        let mut beats = Vec::new();
        let mut lines = Vec::new();
        for element in &scene.elements {
            match element {
                ScriptElement::Action { text, .. } => {
                    let t = text.text.trim();
                    if !t.is_empty() {
                        beats.push(Beat::Action(t.to_owned()));
                    }
                }
                ScriptElement::Dialogue(d) => {
                    let text = d.spoken_text();
                    beats.push(Beat::Speech(lines.len()));
                    lines.push(SceneLine {
                        id: d.id,
                        character: d.character,
                        cue: d.cue.clone(),
                        text,
                    });
                }
                _ => {}
            }
        }
        let all = &project.script.characters;
        let mut characters: Vec<Character> = Vec::new();
        let mut add = |c: &Character| {
            if !characters.iter().any(|x| x.id == c.id) {
                characters.push(c.clone());
            }
        };
        for line in &lines {
            if let Some(c) = line.character.and_then(|id| project.script.character(id)) {
                add(c);
            } else if let Some(c) = all.iter().find(|c| c.answers_to(&line.cue)) {
                add(c);
            }
        }
        for beat in &beats {
            if let Beat::Action(text) = beat {
                for c in all {
                    if mentions(text, &c.name) {
                        add(c);
                    }
                }
            }
        }
        Some(Self {
            index,
            number,
            heading: scene.heading.text.clone(),
            location: scene.heading.location.clone(),
            time_of_day: scene.heading.time_of_day.clone(),
            exterior: matches!(scene.heading.int_ext, Some(IntExt::Ext)),
            new_location,
            beats,
            lines,
            characters,
            all_characters: all.clone(),
            rate: project.timeline.rate,
        })
    }

    /// The scene text that a plan depends on (heading, action, speeches), for the resume hash.
    #[must_use]
    pub fn content_key(&self) -> String {
        let mut out = self.heading.clone();
        for beat in &self.beats {
            out.push('\n');
            match beat {
                Beat::Action(t) => out.push_str(t),
                Beat::Speech(i) => {
                    let l = &self.lines[*i];
                    out.push_str(&format!("{}: {}", l.cue, l.text));
                }
            }
        }
        out
    }

    /// The character a speech belongs to, by the cue's canonical name.
    #[must_use]
    pub fn speaker(&self, line: usize) -> Option<&str> {
        let l = self.lines.get(line)?;
        Some(
            self.characters
                .iter()
                .find(|c| Some(c.id) == l.character || c.answers_to(&l.cue))
                .map_or(l.cue.as_str(), |c| c.name.as_str()),
        )
    }
}

/// Whether `text` names `name` as a whole word in capitals (screenplay convention for a
/// character's first appearance and for emphasis) or in title case.
#[must_use]
pub fn mentions(text: &str, name: &str) -> bool {
    let name = name.trim();
    if name.is_empty() {
        return false;
    }
    let title: String = name
        .split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase()
            })
        })
        .collect::<Vec<_>>()
        .join(" ");
    [name.to_uppercase(), title].iter().any(|needle| {
        text.match_indices(needle.as_str()).any(|(i, m)| {
            let before = text[..i].chars().next_back();
            let after = text[i + m.len()..].chars().next();
            before.is_none_or(|c| !c.is_alphanumeric())
                && after.is_none_or(|c| !c.is_alphanumeric())
        })
    })
}
