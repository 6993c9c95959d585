//! The rule-based breakdown: what a first assistant director does with no model at hand.
//!
//! Deterministic (same scene, same plan). Per scene:
//! * **Establishing**: a new location opens on an extreme wide (exterior) or a wide (interior)
//!   of the place, timed by the first action paragraph.
//! * **Action** paragraphs become a shot of whoever they name (full shot, tracking when they
//!   move), and **inserts** for objects handled or heard: a noun after a handling verb
//!   ("picks up the letter", "pulls out a revolver") or before a sound verb ("the phone
//!   rings").
//! * **Dialogue** exchanges are covered as an editor wants them: a two-shot (or a group wide)
//!   that plays the first speech of an exchange, then singles alternating between speakers, over
//!   the shoulder for a two-hander, consecutive speeches of one speaker in one shot, short
//!   exclamations and questions tighter. A lone speaker gets a medium, then a push-in when long.
//! * **Durations** from reading speed: 2.5 spoken words a second plus a breath per speech,
//!   3 words a second of action, never under 1.5 s.
//! * **Lenses** by size (18 mm extreme wide … 85 mm close-up, 100 mm insert).

use previz_core::{CameraAngle, CameraMovement, ShotSize, cue_key};

use crate::plan::{ACTION_CHARS, PROMPT_CHARS, PlannedShot, SUBJECT_CHARS, ShotPlan};
use crate::scene::{Beat, SceneInput, mentions};

const SPEECH_WORDS_PER_SECOND: f64 = 2.5;
const ACTION_WORDS_PER_SECOND: f64 = 3.0;
const BREATH_SECONDS: f64 = 0.4;
const MIN_SHOT_SECONDS: f64 = 1.5;

/// Verbs of handling after which a noun is an object worth an insert.
const HANDLING: &[&str] = &[
    "picks up",
    "pick up",
    "takes out",
    "pulls out",
    "pulls",
    "takes",
    "grabs",
    "holds up",
    "holds",
    "opens",
    "reads",
    "hands",
    "lifts",
    "drops",
    "pockets",
    "unfolds",
    "finds",
    "slides",
    "places",
    "sets down",
    "puts down",
    "raises",
    "loads",
    "points",
    "clutches",
    "unwraps",
    "studies",
    "checks",
    "pours",
    "lights",
    "tears",
    "signs",
    "writes",
    "dials",
];
/// Verbs of sound before which a noun is an object worth an insert.
const SOUNDING: &[&str] = &[
    "rings", "buzzes", "beeps", "vibrates", "chimes", "ticks", "crackles",
];
/// Nouns that are not props (body, architecture, abstractions).
const NOT_PROPS: &[&str] = &[
    "door",
    "doors",
    "eyes",
    "eye",
    "head",
    "hand",
    "hands",
    "mouth",
    "face",
    "breath",
    "way",
    "room",
    "window",
    "hair",
    "arm",
    "arms",
    "shoulder",
    "shoulders",
    "lips",
    "back",
    "moment",
    "silence",
    "it",
    "them",
    "him",
    "her",
    "himself",
    "herself",
    "air",
    "floor",
    "wall",
];
const DETERMINERS: &[&str] = &[
    "the", "a", "an", "his", "her", "their", "its", "my", "our", "your", "this", "that",
];
const MOTION: &[&str] = &[
    "walks", "runs", "crosses", "enters", "exits", "drives", "rides", "climbs", "hurries",
    "strides", "limps", "races", "follows", "paces", "wanders", "rushes", "steps",
];

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Seconds it takes to say `text`.
#[must_use]
pub fn speech_seconds(text: &str) -> f64 {
    #[allow(clippy::cast_precision_loss)] // word counts
    let w = words(text) as f64;
    w / SPEECH_WORDS_PER_SECOND + BREATH_SECONDS
}

fn action_seconds(text: &str) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let w = words(text) as f64;
    (w / ACTION_WORDS_PER_SECOND).clamp(2.0, 8.0)
}

/// One decimal, as the schema has it.
fn tenths(seconds: f64) -> f64 {
    (seconds.max(MIN_SHOT_SECONDS) * 10.0).ceil() / 10.0
}

/// The lens a size usually gets on a full-frame camera.
#[must_use]
pub fn lens_for(size: ShotSize) -> u32 {
    match size {
        ShotSize::ExtremeWide => 18,
        ShotSize::Wide => 24,
        ShotSize::Full => 32,
        ShotSize::MediumWide => 35,
        ShotSize::Medium => 50,
        ShotSize::MediumCloseUp => 65,
        ShotSize::CloseUp => 85,
        ShotSize::ExtremeCloseUp | ShotSize::Insert => 100,
    }
}

fn size_words(size: ShotSize) -> &'static str {
    match size {
        ShotSize::ExtremeWide => "extreme wide shot",
        ShotSize::Wide => "wide shot",
        ShotSize::Full => "full shot",
        ShotSize::MediumWide => "medium wide shot",
        ShotSize::Medium => "medium shot",
        ShotSize::MediumCloseUp => "medium close-up",
        ShotSize::CloseUp => "close-up",
        ShotSize::ExtremeCloseUp => "extreme close-up",
        ShotSize::Insert => "insert shot",
    }
}

/// Cuts `text` to `max` characters at a word boundary.
#[must_use]
pub fn clip(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max).collect();
    if let Some(cut) = out.rfind(' ') {
        out.truncate(cut);
    }
    out
}

fn first_sentence(text: &str) -> &str {
    let end = text
        .char_indices()
        .find(|&(i, c)| matches!(c, '.' | '!' | '?') && text[i + 1..].starts_with([' ', '\n']))
        .map_or(text.len(), |(i, _)| i + 1);
    &text[..end]
}

/// The image prompt of a shot: framing, subject, action, place and light. The character bible
/// and the style are added by the driver, for every engine alike.
#[must_use]
pub fn compose_prompt(scene: &SceneInput, size: ShotSize, subject: &str, action: &str) -> String {
    let mut parts = vec![format!("{} of {subject}", size_words(size))];
    if !action.is_empty() {
        parts.push(action.trim_end_matches('.').to_lowercase());
    }
    if !scene.location.is_empty() {
        let place = if scene.exterior {
            "exterior"
        } else {
            "interior"
        };
        parts.push(format!("{place}, {}", scene.location.to_lowercase()));
    }
    if let Some(t) = &scene.time_of_day {
        parts.push(t.to_lowercase());
    }
    clip(&parts.join(", "), PROMPT_CHARS)
}

fn shot(
    scene: &SceneInput,
    size: ShotSize,
    angle: CameraAngle,
    movement: CameraMovement,
    subject: &str,
    action: &str,
    lines: Vec<u32>,
    seconds: f64,
) -> PlannedShot {
    let subject = clip(subject, SUBJECT_CHARS);
    let action = clip(action, ACTION_CHARS);
    PlannedShot {
        size,
        angle,
        movement,
        lens_mm: lens_for(size),
        prompt: compose_prompt(scene, size, &subject, &action),
        subject,
        action,
        lines,
        duration_s: tenths(seconds),
    }
}

/// Objects an action paragraph handles or hears, in order (`the letter`).
#[must_use]
pub fn props(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut push = |noun: String| {
        if !out.contains(&noun) {
            out.push(noun);
        }
    };
    for verb in HANDLING {
        let verb_words: Vec<&str> = verb.split(' ').collect();
        for i in 0..tokens.len() {
            if tokens[i..].starts_with(&verb_words) {
                let mut j = i + verb_words.len();
                if tokens.get(j).is_some_and(|w| DETERMINERS.contains(w)) {
                    j += 1;
                } else {
                    continue;
                }
                // Up to two words: "old photograph", "car keys".
                let mut noun = Vec::new();
                while let Some(w) = tokens.get(j) {
                    if noun.len() == 2 || DETERMINERS.contains(w) || w.ends_with("ly") {
                        break;
                    }
                    noun.push(*w);
                    j += 1;
                    if matches!(
                        tokens.get(j),
                        Some(
                            &("and"
                                | "from"
                                | "to"
                                | "with"
                                | "in"
                                | "on"
                                | "at"
                                | "of"
                                | "into"
                                | "out")
                        )
                    ) {
                        break;
                    }
                }
                if let Some(last) = noun.last()
                    && !NOT_PROPS.contains(last)
                    && last.chars().all(char::is_alphabetic)
                {
                    push(format!("the {}", noun.join(" ")));
                }
            }
        }
    }
    for (i, w) in tokens.iter().enumerate() {
        if SOUNDING.contains(w)
            && i > 0
            && !NOT_PROPS.contains(&tokens[i - 1])
            && tokens[i - 1].chars().all(char::is_alphabetic)
            && i >= 2
            && DETERMINERS.contains(&tokens[i - 2])
        {
            push(format!("the {}", tokens[i - 1]));
        }
    }
    out
}

/// Plans a scene by the rules.
#[must_use]
pub fn plan_scene(scene: &SceneInput) -> ShotPlan {
    let mut shots: Vec<PlannedShot> = Vec::new();
    let first_action = scene.beats.iter().find_map(|b| match b {
        Beat::Action(t) => Some(t.as_str()),
        Beat::Speech(_) => None,
    });
    let mut action_used = false;
    if scene.new_location || scene.beats.is_empty() {
        let (size, angle) = if scene.exterior {
            (ShotSize::ExtremeWide, CameraAngle::High)
        } else {
            (ShotSize::Wide, CameraAngle::EyeLevel)
        };
        let action = first_action.map(first_sentence).unwrap_or_default();
        let subject = if scene.location.is_empty() {
            "the scene"
        } else {
            &scene.location
        };
        shots.push(shot(
            scene,
            size,
            angle,
            CameraMovement::Static,
            &subject.to_lowercase(),
            action,
            Vec::new(),
            first_action.map_or(3.0, action_seconds).min(5.0),
        ));
        action_used = first_action.is_some();
    }

    // Runs of consecutive speeches form exchanges; action paragraphs break them.
    let mut i = 0;
    while i < scene.beats.len() {
        match &scene.beats[i] {
            Beat::Action(text) => {
                if action_used && first_action == Some(text.as_str()) && i == first_index(scene) {
                    // The establishing shot already plays it; still give its props inserts.
                } else {
                    action_shot(scene, text, &mut shots);
                }
                for prop in props(text) {
                    let sentence = text
                        .split_inclusive(['.', '!', '?'])
                        .find(|s| s.to_lowercase().contains(prop.trim_start_matches("the ")))
                        .unwrap_or(text);
                    shots.push(shot(
                        scene,
                        ShotSize::Insert,
                        CameraAngle::High,
                        CameraMovement::Static,
                        &prop,
                        sentence.trim(),
                        Vec::new(),
                        2.0,
                    ));
                }
                i += 1;
            }
            Beat::Speech(_) => {
                let start = i;
                while i < scene.beats.len() && matches!(scene.beats[i], Beat::Speech(_)) {
                    i += 1;
                }
                let run: Vec<usize> = scene.beats[start..i]
                    .iter()
                    .filter_map(|b| match b {
                        Beat::Speech(n) => Some(*n),
                        Beat::Action(_) => None,
                    })
                    .collect();
                cover_exchange(scene, &run, &mut shots);
            }
        }
    }
    if shots.is_empty() {
        shots.push(shot(
            scene,
            ShotSize::Wide,
            CameraAngle::EyeLevel,
            CameraMovement::Static,
            "the scene",
            "",
            Vec::new(),
            3.0,
        ));
    }
    ShotPlan { shots }
}

fn first_index(scene: &SceneInput) -> usize {
    scene
        .beats
        .iter()
        .position(|b| matches!(b, Beat::Action(_)))
        .unwrap_or(usize::MAX)
}

fn action_shot(scene: &SceneInput, text: &str, shots: &mut Vec<PlannedShot>) {
    let named: Vec<&str> = scene
        .characters
        .iter()
        .filter(|c| mentions(text, &c.name))
        .map(|c| c.name.as_str())
        .collect();
    let lower = text.to_lowercase();
    let moving = MOTION
        .iter()
        .any(|m| lower.split(|c: char| !c.is_alphabetic()).any(|w| w == *m));
    let movement = if moving {
        CameraMovement::Tracking
    } else {
        CameraMovement::Static
    };
    let (size, subject) = match named.as_slice() {
        [] => (ShotSize::Wide, scene.location.to_lowercase()),
        [one] => (ShotSize::Full, (*one).to_owned()),
        many => (ShotSize::MediumWide, many.join(" and ")),
    };
    let subject = if subject.is_empty() {
        "the scene".to_owned()
    } else {
        subject
    };
    shots.push(shot(
        scene,
        size,
        CameraAngle::EyeLevel,
        movement,
        &subject,
        first_sentence(text),
        Vec::new(),
        action_seconds(text),
    ));
}

fn cover_exchange(scene: &SceneInput, run: &[usize], shots: &mut Vec<PlannedShot>) {
    let speakers: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for &n in run {
            let s = scene.speaker(n).unwrap_or("").to_owned();
            if !v.iter().any(|x| cue_key(x) == cue_key(&s)) {
                v.push(s);
            }
        }
        v
    };
    // Group consecutive speeches of one speaker.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for &n in run {
        let s = scene.speaker(n).unwrap_or("").to_owned();
        match groups.last_mut() {
            Some((who, lines)) if cue_key(who) == cue_key(&s) => lines.push(n),
            _ => groups.push((s, vec![n])),
        }
    }
    let seconds = |lines: &[usize]| {
        lines
            .iter()
            .map(|&n| speech_seconds(&scene.lines[n].text))
            .sum::<f64>()
    };
    let numbers = |lines: &[usize]| {
        lines
            .iter()
            .map(|&n| u32::try_from(n + 1).unwrap_or(u32::MAX))
            .collect::<Vec<_>>()
    };
    let summary = |lines: &[usize]| {
        let l = &scene.lines[lines[0]];
        format!(
            "{} says: {}",
            scene.speaker(lines[0]).unwrap_or(&l.cue),
            first_sentence(&l.text)
        )
    };
    for (k, (who, lines)) in groups.iter().enumerate() {
        let text: String = lines
            .iter()
            .map(|&n| scene.lines[n].text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let short_and_sharp = words(&text) <= 6 && (text.contains('!') || text.contains('?'));
        let (size, angle, movement, subject) = if k == 0 && speakers.len() >= 2 {
            // The exchange opens on everyone in it.
            let size = if speakers.len() == 2 {
                ShotSize::MediumWide
            } else {
                ShotSize::Wide
            };
            (
                size,
                CameraAngle::EyeLevel,
                CameraMovement::Static,
                speakers.join(" and "),
            )
        } else if speakers.len() == 2 {
            let size = if short_and_sharp {
                ShotSize::CloseUp
            } else {
                ShotSize::MediumCloseUp
            };
            (
                size,
                CameraAngle::OverTheShoulder,
                CameraMovement::Static,
                who.clone(),
            )
        } else if speakers.len() == 1 && words(&text) > 40 {
            (
                ShotSize::MediumCloseUp,
                CameraAngle::EyeLevel,
                CameraMovement::DollyIn,
                who.clone(),
            )
        } else {
            let size = if short_and_sharp {
                ShotSize::CloseUp
            } else {
                ShotSize::Medium
            };
            (
                size,
                CameraAngle::EyeLevel,
                CameraMovement::Static,
                who.clone(),
            )
        };
        shots.push(shot(
            scene,
            size,
            angle,
            movement,
            &subject,
            &summary(lines),
            numbers(lines),
            seconds(lines),
        ));
    }
}
