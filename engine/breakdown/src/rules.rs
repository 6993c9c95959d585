//! The rule-based breakdown: what a first AD would block out before anyone asks a model.
//!
//! For each scene, walking its elements in order:
//!
//! * **Establishing shot** when the location (or INT./EXT.) differs from the previous scene's:
//!   an extreme wide outside, a wide inside, 24 mm, static, on the first action paragraph.
//! * **Action paragraphs** outside dialogue get a medium-wide of whoever they name (or a full
//!   shot of the location when they name no one), timed at reading speed (2–8 s).
//! * **Inserts** for objects the action names (at most one per paragraph, three per scene):
//!   the noun phrase after a verb of handling (`picks up the letter`, `hands her a photograph`)
//!   or the subject of a verb of sound (`the phone rings`). The phrase must start with an article
//!   or possessive and is cut at the first preposition or conjunction; body parts, doors and
//!   the like are never inserts. 100 mm, 2 s.
//! * **Dialogue exchanges** (speeches with at most short action between them): one speaker is a
//!   single (medium close-up, 50 mm); two or more open on a two-shot master (medium-wide, 35 mm)
//!   for the first speech, then alternate over-the-shoulder singles on each speaker (runs of one
//!   speaker stay in one shot), pushing in to close-ups (85 mm) for the last third of a long
//!   exchange. One reaction close-up of the listener follows the longest speech of an exchange of
//!   four or more speeches when that speech runs past 25 words. Every speech is in exactly one
//!   shot, in order, so the shots play back to back as an edit.
//! * **Durations** from reading speed (core's rough cut: 150 wpm plus a breath per speech).
//! * More than twelve shots: the shortest adjacent pair merges until twelve remain.
//!
//! Same input, same plan: nothing here is random or depends on hash order.

use std::collections::BTreeMap;

use previz_core::roughcut::speech_frames;
use previz_core::{
    CameraAngle, CameraMovement, Character, IntExt, Project, Rate, Scene, ScriptElement, ShotSize,
    cue_key,
};

use crate::bible::{CharacterSketch, title_case};
use crate::engine::SceneInput;
use crate::plan::{self, PlannedShot, ScenePlan};

/// Action between two speeches shorter than this (in words) keeps them in one exchange.
const EXCHANGE_GAP_WORDS: usize = 25;
const BREATH_S: f64 = 0.4;
const ACTION_WORDS_PER_SECOND: f64 = 3.0;
const MAX_INSERTS: usize = 3;

/// The lens a shot size is usually shot on.
#[must_use]
pub fn lens_for(size: ShotSize) -> u32 {
    match size {
        ShotSize::ExtremeWide => 18,
        ShotSize::Wide => 24,
        ShotSize::Full | ShotSize::MediumWide => 35,
        ShotSize::Medium | ShotSize::MediumCloseUp => 50,
        ShotSize::CloseUp => 85,
        ShotSize::ExtremeCloseUp | ShotSize::Insert => 100,
    }
}

/// Seconds it takes to say a speech (core's reading speed), plus a breath.
#[must_use]
pub fn speech_seconds(text: &str, rate: Rate) -> f64 {
    #[allow(clippy::cast_precision_loss)] // frame counts of a speech
    let s = speech_frames(text, rate) as f64 / rate.as_f64();
    s + BREATH_S
}

fn action_seconds(text: &str) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let s = text.split_whitespace().count() as f64 / ACTION_WORDS_PER_SECOND;
    s.clamp(2.0, 8.0)
}

/// Characters in a scene: speakers, then those named in CAPS in action, first seen first.
#[must_use]
pub fn characters_present(project: &Project, scene: &Scene) -> Vec<Character> {
    let mut out: Vec<Character> = Vec::new();
    let mut push = |c: &Character| {
        if !out.iter().any(|o| o.id == c.id) {
            out.push(c.clone());
        }
    };
    for element in &scene.elements {
        match element {
            ScriptElement::Dialogue(d) => {
                let found = d
                    .character
                    .and_then(|id| project.script.character(id))
                    .or_else(|| {
                        project
                            .script
                            .characters
                            .iter()
                            .find(|c| c.answers_to(&d.cue))
                    });
                match found {
                    Some(c) => push(c),
                    None => push(&Character::new(cue_key(&d.cue))),
                }
            }
            ScriptElement::Action { text, .. } => {
                for c in &project.script.characters {
                    if names_in_caps(&text.text, c) {
                        push(c);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn names_in_caps(text: &str, c: &Character) -> bool {
    std::iter::once(&c.name)
        .chain(&c.aliases)
        .any(|n| !n.trim().is_empty() && contains_word(text, &cue_key(n)))
}

/// Whether `needle` occurs in `hay` as whole words (case-sensitive).
fn contains_word(hay: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = hay[from..].find(needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before = hay[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after = hay[end..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric());
        if before && after {
            return true;
        }
        from = end;
    }
    false
}

const HANDLING: &[&str] = &[
    "picks up",
    "pick up",
    "holds up",
    "holds",
    "grabs",
    "opens",
    "reads",
    "hands",
    "pulls out",
    "takes out",
    "takes",
    "drops",
    "unfolds",
    "pockets",
    "slides",
    "puts down",
    "sets down",
    "clutches",
    "examines",
    "lifts",
    "shows",
    "throws",
    "tosses",
    "pours",
    "loads",
    "hides",
    "finds",
    "studies",
    "produces",
    "places",
    "raises",
    "checks",
    "answers",
    "dials",
    "signs",
    "tears",
    "burns",
    "offers",
    "passes",
];
const SOUNDS: &[&str] = &[
    "rings", "buzzes", "beeps", "vibrates", "chimes", "ticks", "flickers", "explodes", "crackles",
];
const DETERMINERS: &[&str] = &[
    "the", "a", "an", "his", "her", "their", "its", "my", "your", "our",
];
const STOP: &[&str] = &[
    "and", "to", "from", "on", "in", "into", "with", "at", "of", "as", "off", "then", "before",
    "after", "over", "under", "for", "but", "while", "out", "up", "back", "away", "across",
];
const NOT_INSERTS: &[&str] = &[
    "hand",
    "hands",
    "head",
    "eyes",
    "eye",
    "face",
    "breath",
    "hair",
    "arm",
    "arms",
    "shoulder",
    "shoulders",
    "door",
    "window",
    "way",
    "moment",
    "look",
    "seat",
    "step",
    "mouth",
    "lips",
    "chin",
    "fist",
    "fists",
    "glance",
    "beat",
    "silence",
    "time",
    "turn",
    "place",
    "room",
];

fn clean_word(w: &str) -> &str {
    w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
}

/// The object a sentence names for an insert (`the letter`), if any. See the module docs.
#[must_use]
pub fn insert_object(sentence: &str) -> Option<String> {
    let lower = sentence.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let raw: Vec<&str> = sentence.split_whitespace().collect();
    // A handling verb followed (within two words: "hands her a photograph") by a determiner.
    for verb in HANDLING {
        let verb_words: Vec<&str> = verb.split(' ').collect();
        for i in 0..words.len() {
            let matches = verb_words
                .iter()
                .enumerate()
                .all(|(k, v)| words.get(i + k).is_some_and(|w| clean_word(w) == *v));
            if !matches {
                continue;
            }
            let after = i + verb_words.len();
            for skip in 0..=2 {
                let d = after + skip;
                if words
                    .get(d)
                    .is_some_and(|w| DETERMINERS.contains(&clean_word(w)))
                {
                    // "hands her a photograph": the object's determiner is the last one.
                    let mut d = d;
                    while words
                        .get(d + 1)
                        .is_some_and(|w| DETERMINERS.contains(&clean_word(w)))
                    {
                        d += 1;
                    }
                    if let Some(phrase) = noun_phrase(&raw, &words, d) {
                        return Some(phrase);
                    }
                    break;
                }
            }
        }
    }
    // "the phone rings": a determiner, up to two words, a verb of sound.
    for (i, w) in words.iter().enumerate() {
        if SOUNDS.contains(&clean_word(w)) && i >= 2 {
            for back in 2..=3 {
                if i >= back
                    && DETERMINERS.contains(&clean_word(words[i - back]))
                    && let Some(phrase) = noun_phrase(&raw, &words, i - back)
                {
                    return Some(phrase);
                }
            }
        }
    }
    None
}

/// The noun phrase starting at the determiner at `d`: up to three words, cut at a stop word or
/// punctuation; `None` for body parts and other non-objects, or character names in CAPS.
fn noun_phrase(raw: &[&str], words: &[&str], d: usize) -> Option<String> {
    let mut phrase = vec![clean_word(words[d]).to_owned()];
    for k in 1..=3 {
        let Some(w) = words.get(d + k) else { break };
        let word = clean_word(w);
        if word.is_empty() || STOP.contains(&word) || SOUNDS.contains(&word) {
            break;
        }
        let original = clean_word(raw[d + k]);
        if original.len() > 1 && original.chars().all(|c| !c.is_lowercase()) {
            return None; // a character in CAPS, not an object
        }
        phrase.push(word.to_owned());
        if w.ends_with([',', '.', ';', ':', '!', '?']) {
            break;
        }
    }
    let noun = phrase.last()?;
    if phrase.len() < 2 || NOT_INSERTS.contains(&noun.as_str()) {
        return None;
    }
    if matches!(
        phrase[0].as_str(),
        "a" | "an" | "his" | "her" | "their" | "its" | "my" | "your" | "our"
    ) {
        phrase[0] = "the".to_owned();
    }
    Some(phrase.join(" "))
}

fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(['.', '!', '?', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// One beat of a scene: an action paragraph or an exchange of speeches (0-based line indices).
enum Beat<'a> {
    Action(&'a str),
    Exchange(Vec<usize>),
}

fn beats(scene: &Scene) -> Vec<Beat<'_>> {
    let mut out: Vec<Beat<'_>> = Vec::new();
    let mut line = 0usize;
    let mut pending_action: Option<&str> = None;
    for element in &scene.elements {
        match element {
            ScriptElement::Dialogue(_) => {
                let joined = match (out.last_mut(), pending_action) {
                    (Some(Beat::Exchange(lines)), None) => {
                        lines.push(line);
                        true
                    }
                    (Some(Beat::Exchange(lines)), Some(a))
                        if a.split_whitespace().count() < EXCHANGE_GAP_WORDS =>
                    {
                        lines.push(line);
                        true
                    }
                    _ => false,
                };
                if !joined {
                    if let Some(a) = pending_action.take() {
                        out.push(Beat::Action(a));
                    }
                    out.push(Beat::Exchange(vec![line]));
                }
                pending_action = None;
                line += 1;
            }
            ScriptElement::Action { text, .. } => {
                if let Some(a) = pending_action.take() {
                    out.push(Beat::Action(a));
                }
                if !text.text.trim().is_empty() {
                    pending_action = Some(&text.text);
                }
            }
            _ => {}
        }
    }
    if let Some(a) = pending_action {
        out.push(Beat::Action(a));
    }
    out
}

struct Composer<'a> {
    input: &'a SceneInput,
}

impl Composer<'_> {
    fn sketch(&self, name: &str) -> Option<&CharacterSketch> {
        self.input.bible.get(&cue_key(name))
    }

    /// The image prompt: shot, subject (with the bible's words for characters), action, place
    /// and time, then the style preset, clipped so the style always fits.
    fn prompt(&self, size: ShotSize, angle: CameraAngle, subject: &str, action: &str) -> String {
        let heading = &self.input.scene.heading;
        let subject_words = subject
            .split(" and ")
            .map(|s| {
                self.sketch(s)
                    .map_or_else(|| s.to_owned(), CharacterSketch::prompt_words)
            })
            .collect::<Vec<_>>()
            .join(" and ");
        let place = match heading.int_ext {
            Some(IntExt::Ext) => format!("exterior {}", heading.location.to_lowercase()),
            Some(_) => format!("interior {}", heading.location.to_lowercase()),
            None => heading.location.to_lowercase(),
        };
        let mut body = format!(
            "{} {} shot of {subject_words}",
            angle.as_str().replace('_', " "),
            size.as_str().replace('_', " ")
        );
        if !action.is_empty() {
            body.push_str(", ");
            body.push_str(action.trim_end_matches('.'));
        }
        if !place.trim().is_empty() {
            body.push_str(", ");
            body.push_str(place.trim());
        }
        if let Some(time) = &heading.time_of_day {
            body.push_str(", ");
            body.push_str(&time.to_lowercase());
        }
        // The place's description, unless this shot's action already says it.
        let description = self.input.location_description.trim().trim_end_matches('.');
        let said = action.trim().trim_end_matches('.');
        if !description.is_empty() && !said.contains(description) && !description.contains(said) {
            body.push_str(", ");
            body.push_str(description);
        }
        let style = self.input.style.prompt_text();
        let room = plan::PROMPT_MAX.saturating_sub(style.chars().count() + 2);
        let mut out = plan::clip_words(&body, room);
        if !style.is_empty() {
            out.push_str(", ");
            out.push_str(style);
        }
        plan::clip(&out, plan::PROMPT_MAX)
    }

    #[allow(clippy::too_many_arguments)]
    fn shot(
        &self,
        size: ShotSize,
        angle: CameraAngle,
        movement: CameraMovement,
        subject: &str,
        action: &str,
        lines: Vec<u32>,
        seconds: f64,
    ) -> PlannedShot {
        let subject = plan::clip(subject, plan::SUBJECT_MAX);
        let action = plan::clip(
            action
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .as_str(),
            plan::ACTION_MAX,
        );
        PlannedShot {
            prompt: self.prompt(size, angle, &subject, &action),
            size,
            angle,
            movement,
            lens_mm: lens_for(size),
            subject,
            action,
            lines,
            duration_s: plan::round_duration(seconds),
        }
    }

    fn lines_seconds(&self, lines: &[usize]) -> f64 {
        lines
            .iter()
            .map(|&i| speech_seconds(&self.input.lines[i].text, self.input.rate))
            .sum()
    }

    fn named_in(&self, text: &str) -> Vec<String> {
        self.input
            .characters
            .iter()
            .filter(|c| names_in_caps(text, c))
            .map(|c| title_case(&c.name))
            .collect()
    }
}

fn first_sentence(text: &str) -> &str {
    sentences(text).next().unwrap_or("")
}

/// The rule-based plan of one scene.
#[must_use]
pub fn plan(input: &SceneInput) -> ScenePlan {
    let c = Composer { input };
    let scene = &input.scene;
    let location = if scene.heading.location.trim().is_empty() {
        "the location".to_owned()
    } else {
        title_case(&scene.heading.location)
    };
    let mut shots: Vec<PlannedShot> = Vec::new();
    let beats = beats(scene);
    let mut inserts = 0usize;
    let mut first_action_used = false;
    if input.new_location {
        let outside = scene.heading.int_ext == Some(IntExt::Ext);
        let size = if outside {
            ShotSize::ExtremeWide
        } else {
            ShotSize::Wide
        };
        let opening = beats.iter().find_map(|b| match b {
            Beat::Action(a) => Some(*a),
            Beat::Exchange(_) => None,
        });
        let action = opening.map(first_sentence).unwrap_or_default();
        first_action_used = matches!(beats.first(), Some(Beat::Action(_)));
        let seconds = opening.map_or(3.0, |a| action_seconds(a).clamp(3.0, 6.0));
        let mut shot = c.shot(
            size,
            CameraAngle::EyeLevel,
            CameraMovement::Static,
            &location,
            action,
            vec![],
            seconds,
        );
        shot.lens_mm = 24;
        shots.push(shot);
    }
    for (b, beat) in beats.iter().enumerate() {
        match beat {
            Beat::Action(text) => {
                let skip_main = b == 0 && first_action_used;
                if !skip_main {
                    let people = c.named_in(text);
                    let (size, subject) = if people.is_empty() {
                        (ShotSize::Full, location.clone())
                    } else {
                        (ShotSize::MediumWide, people.join(" and "))
                    };
                    shots.push(c.shot(
                        size,
                        CameraAngle::EyeLevel,
                        CameraMovement::Static,
                        &subject,
                        first_sentence(text),
                        vec![],
                        action_seconds(text),
                    ));
                }
                if inserts < MAX_INSERTS
                    && let Some((object, sentence)) =
                        sentences(text).find_map(|s| insert_object(s).map(|o| (o, s)))
                {
                    inserts += 1;
                    shots.push(c.shot(
                        ShotSize::Insert,
                        CameraAngle::High,
                        CameraMovement::Static,
                        &object,
                        sentence,
                        vec![],
                        2.0,
                    ));
                }
            }
            Beat::Exchange(lines) => exchange(&c, lines, &mut shots),
        }
    }
    if shots.is_empty() {
        let seconds = 3.0;
        shots.push(c.shot(
            ShotSize::Wide,
            CameraAngle::EyeLevel,
            CameraMovement::Static,
            &location,
            "",
            vec![],
            seconds,
        ));
    }
    fit(&mut shots, input);
    ScenePlan { shots }
}

fn number(i: usize) -> u32 {
    u32::try_from(i + 1).unwrap_or(u32::MAX)
}

/// Coverage of one exchange (see the module docs).
fn exchange(c: &Composer<'_>, lines: &[usize], shots: &mut Vec<PlannedShot>) {
    let input = c.input;
    let speaker = |i: usize| title_case(&input.lines[i].speaker);
    // Voices from off screen (V.O., O.S., O.C.) are never in frame: their lines play over
    // whoever is listening on screen.
    let off = |i: usize| {
        input.lines[i].speech.extensions.iter().any(|e| {
            let k: String = e
                .chars()
                .filter(char::is_ascii_alphabetic)
                .collect::<String>()
                .to_uppercase();
            matches!(k.as_str(), "VO" | "OS" | "OC" | "OFF" | "OFFSCREEN")
        })
    };
    let mut speakers: Vec<String> = Vec::new();
    for &i in lines {
        if !off(i) && !speakers.contains(&speaker(i)) {
            speakers.push(speaker(i));
        }
    }
    let location = title_case(&input.scene.heading.location);
    // Runs of one speaker (off-screen runs separately).
    let mut runs: Vec<Vec<usize>> = Vec::new();
    for &i in lines {
        match runs.last_mut() {
            Some(run) if speaker(run[0]) == speaker(i) && off(run[0]) == off(i) => run.push(i),
            _ => runs.push(vec![i]),
        }
    }
    let mut last_on_screen: Option<String> = None;
    let off_screen = |run: &[usize], last: &Option<String>, shots: &mut Vec<PlannedShot>| {
        let who = speaker(run[0]);
        let listener = last.clone().or_else(|| speakers.first().cloned());
        let (size, subject) = match &listener {
            Some(l) => (ShotSize::CloseUp, l.clone()),
            None => (ShotSize::Wide, location.clone()),
        };
        shots.push(c.shot(
            size,
            CameraAngle::EyeLevel,
            CameraMovement::Static,
            &subject,
            &format!("{who} is heard off screen"),
            run.iter().map(|&i| number(i)).collect(),
            c.lines_seconds(run),
        ));
    };
    if speakers.len() <= 1 {
        for run in &runs {
            if off(run[0]) {
                off_screen(run, &last_on_screen, shots);
                continue;
            }
            let who = speaker(run[0]);
            let (first, rest) = if run.len() > 3 {
                run.split_at(run.len() / 2)
            } else {
                (&run[..], &[][..])
            };
            shots.push(c.shot(
                ShotSize::MediumCloseUp,
                CameraAngle::EyeLevel,
                CameraMovement::Static,
                &who,
                &format!("{who} speaks"),
                first.iter().map(|&i| number(i)).collect(),
                c.lines_seconds(first),
            ));
            if !rest.is_empty() {
                shots.push(c.shot(
                    ShotSize::CloseUp,
                    CameraAngle::EyeLevel,
                    CameraMovement::DollyIn,
                    &who,
                    &format!("{who} goes on"),
                    rest.iter().map(|&i| number(i)).collect(),
                    c.lines_seconds(rest),
                ));
            }
            last_on_screen = Some(who);
        }
        return;
    }
    // Master two-shot of the people on screen, on the first on-screen run.
    let group = speakers.join(" and ");
    let master = runs.iter().position(|r| !off(r[0])).unwrap_or(0);
    let push_in_from = if lines.len() >= 6 {
        runs.len() - runs.len() / 3
    } else {
        runs.len()
    };
    let longest = lines.iter().copied().max_by_key(|&i| {
        (
            input.lines[i].text.split_whitespace().count(),
            std::cmp::Reverse(i),
        )
    });
    let reaction_after = longest.filter(|&i| {
        lines.len() >= 4 && !off(i) && input.lines[i].text.split_whitespace().count() > 25
    });
    for (r, run) in runs.iter().enumerate() {
        if off(run[0]) {
            off_screen(run, &last_on_screen, shots);
            continue;
        }
        let who = speaker(run[0]);
        let other = last_on_screen
            .clone()
            .filter(|l| *l != who)
            .or_else(|| speakers.iter().find(|s| **s != who).cloned())
            .unwrap_or_default();
        let lines_of_run: Vec<u32> = run.iter().map(|&i| number(i)).collect();
        if r == master {
            shots.push(c.shot(
                ShotSize::MediumWide,
                CameraAngle::EyeLevel,
                CameraMovement::Static,
                &group,
                &format!("{group} face each other"),
                lines_of_run,
                c.lines_seconds(run),
            ));
        } else {
            let (size, angle) = if r >= push_in_from {
                (ShotSize::CloseUp, CameraAngle::EyeLevel)
            } else {
                (ShotSize::MediumCloseUp, CameraAngle::OverTheShoulder)
            };
            let action = if angle == CameraAngle::OverTheShoulder {
                format!("{who} over {other}'s shoulder")
            } else {
                format!("{who} speaks")
            };
            shots.push(c.shot(
                size,
                angle,
                CameraMovement::Static,
                &who,
                &action,
                lines_of_run,
                c.lines_seconds(run),
            ));
        }
        if reaction_after.is_some_and(|i| run.contains(&i)) && !other.is_empty() {
            shots.push(c.shot(
                ShotSize::CloseUp,
                CameraAngle::EyeLevel,
                CameraMovement::Static,
                &other,
                &format!("{other} reacts"),
                vec![],
                2.0,
            ));
        }
        last_on_screen = Some(who);
    }
}

/// Merges the shortest adjacent pair until at most [`plan::MAX_SHOTS`] remain, keeping the
/// first (establishing) shot and line order. A silent shot merges into its neighbour with lines
/// (which keeps its framing); two dialogue shots become a medium shot of everyone in them.
pub(crate) fn fit(shots: &mut Vec<PlannedShot>, input: &SceneInput) {
    let c = Composer { input };
    while shots.len() > plan::MAX_SHOTS {
        let start = 1.min(shots.len() - 2);
        let i = (start..shots.len() - 1)
            .min_by(|&a, &b| {
                let da = shots[a].duration_s + shots[a + 1].duration_s;
                let db = shots[b].duration_s + shots[b + 1].duration_s;
                da.total_cmp(&db)
            })
            .unwrap_or(start);
        let second = shots.remove(i + 1);
        let first = shots[i].clone();
        let duration = plan::round_duration(first.duration_s + second.duration_s);
        let merged = if first.lines.is_empty() || second.lines.is_empty() {
            let mut keep = if first.lines.is_empty() {
                second
            } else {
                first
            };
            keep.duration_s = duration;
            keep
        } else {
            let mut people: Vec<String> = Vec::new();
            for part in first
                .subject
                .split(" and ")
                .chain(second.subject.split(" and "))
            {
                if !people.iter().any(|p| p == part) {
                    people.push(part.to_owned());
                }
            }
            let subject = plan::clip(&people.join(" and "), plan::SUBJECT_MAX);
            let mut lines = first.lines;
            lines.extend(second.lines);
            lines.sort_unstable();
            lines.dedup();
            let mut shot = c.shot(
                ShotSize::Medium,
                CameraAngle::EyeLevel,
                CameraMovement::Static,
                &subject,
                &format!("{subject} talk"),
                lines,
                duration,
            );
            shot.duration_s = duration;
            shot
        };
        shots[i] = merged;
    }
}

/// The rule-based shot for one planned shot's place: used when a model's shot is hopeless.
/// Covers `lines` (1-based) with a single on their first speaker (or a wide without lines).
#[must_use]
pub fn fallback_shot(input: &SceneInput, lines: &[u32]) -> PlannedShot {
    let c = Composer { input };
    let idx: Vec<usize> = lines
        .iter()
        .filter_map(|&n| usize::try_from(n).ok()?.checked_sub(1))
        .filter(|&i| i < input.lines.len())
        .collect();
    match idx.first() {
        Some(&first) => {
            let who = title_case(&input.lines[first].speaker);
            c.shot(
                ShotSize::MediumCloseUp,
                CameraAngle::EyeLevel,
                CameraMovement::Static,
                &who,
                &format!("{who} speaks"),
                idx.iter().map(|&i| number(i)).collect(),
                c.lines_seconds(&idx).min(60.0),
            )
        }
        None => {
            let location = title_case(&input.scene.heading.location);
            c.shot(
                ShotSize::Wide,
                CameraAngle::EyeLevel,
                CameraMovement::Static,
                &location,
                "",
                vec![],
                3.0,
            )
        }
    }
}

/// The bible entries for a scene's characters.
#[must_use]
pub fn bible_for(
    bible: &BTreeMap<String, CharacterSketch>,
    characters: &[Character],
) -> BTreeMap<String, CharacterSketch> {
    characters
        .iter()
        .filter_map(|c| {
            bible
                .get(&cue_key(&c.name))
                .map(|s| (cue_key(&c.name), s.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_find_handled_and_sounding_objects() {
        assert_eq!(
            insert_object("She picks up the letter and reads it."),
            Some("the letter".into())
        );
        assert_eq!(insert_object("The phone rings."), Some("the phone".into()));
        assert_eq!(
            insert_object("He hands her a photograph."),
            Some("the photograph".into())
        );
        assert_eq!(insert_object("MARA opens the door."), None);
        assert_eq!(insert_object("He grabs her arm."), None);
        assert_eq!(insert_object("She walks to the window."), None);
        assert_eq!(insert_object("He takes a deep breath."), None);
    }

    #[test]
    fn lenses_follow_size() {
        assert_eq!(lens_for(ShotSize::Wide), 24);
        assert_eq!(lens_for(ShotSize::CloseUp), 85);
        assert!(lens_for(ShotSize::Medium) >= 35 && lens_for(ShotSize::Medium) <= 50);
    }
}
