//! A rough cut from the script alone: useful before any model has run.
//!
//! Every scene without shots gets one master shot covering all its dialogue; the timeline is
//! rebuilt as a storyboard track with the shots back to back, one dialogue track per speaking
//! character with each speech placed where its shot plays it, and an empty music / SFX track.
//! Durations come from reading speed (150 words a minute for dialogue, slower for action), as
//! a first assistant editor would time a radio play. The result is one undoable batch.

use std::collections::HashMap;

use crate::edit::EditCommand;
use crate::ids::{CharacterId, LineId, TrackId};
use crate::project::Project;
use crate::script::{Scene, ScriptElement};
use crate::shot::{CameraAngle, Shot, ShotSize};
use crate::time::{Rate, RationalTime, Rounding};
use crate::timeline::{Clip, ClipSource, Track, TrackKind};

/// Spoken words per second (150 wpm).
const SPEECH_WORDS_PER_SECOND: f64 = 2.5;
/// Action is read, not performed; a page of action plays slower than it reads.
const ACTION_WORDS_PER_SECOND: f64 = 3.0;
/// A breath between speeches, in seconds.
const PAUSE_SECONDS: f64 = 0.4;
/// No shot shorter than this, in seconds.
const MIN_SHOT_SECONDS: f64 = 2.0;

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

fn frames(seconds: f64, rate: Rate) -> i64 {
    // Seconds to frames, rounded up so nothing is cut short.
    let exact = seconds * rate.as_f64();
    #[allow(clippy::cast_possible_truncation)] // durations of minutes, far inside i64
    let whole = exact.ceil() as i64;
    whole.max(1)
}

/// How long a speech takes to say.
#[must_use]
pub fn speech_frames(text: &str, rate: Rate) -> i64 {
    #[allow(clippy::cast_precision_loss)] // word counts
    let seconds = words(text) as f64 / SPEECH_WORDS_PER_SECOND + 0.3;
    frames(seconds, rate)
}

fn action_seconds(scene: &Scene) -> f64 {
    let n: usize = scene
        .elements
        .iter()
        .map(|e| match e {
            ScriptElement::Action { text, .. } => words(&text.text),
            _ => 0,
        })
        .sum();
    #[allow(clippy::cast_precision_loss)]
    let seconds = n as f64 / ACTION_WORDS_PER_SECOND;
    seconds
}

/// The command that builds the rough cut (one undo step).
#[must_use]
pub fn rough_cut(project: &Project) -> EditCommand {
    let rate = project.timeline.rate;
    let mut commands = Vec::new();
    let mut shots: Vec<Shot> = Vec::new();
    for scene in project.script.scenes.iter().filter(|s| !s.omitted) {
        let existing: Vec<&Shot> = project.shots_in_scene(scene.id).collect();
        if !existing.is_empty() {
            shots.extend(existing.into_iter().cloned());
            continue;
        }
        let speeches: Vec<_> = scene.dialogue().collect();
        let talk: f64 = speeches
            .iter()
            .map(|d| {
                #[allow(clippy::cast_precision_loss)]
                let s = speech_frames(&d.spoken_text(), rate) as f64 / rate.as_f64();
                s + PAUSE_SECONDS
            })
            .sum();
        let seconds = (talk + action_seconds(scene).min(20.0) * 0.5 + 1.0).max(MIN_SHOT_SECONDS);
        let mut shot = Shot::new(scene.id, RationalTime::new(frames(seconds, rate), rate));
        shot.size = Some(ShotSize::Wide);
        shot.angle = Some(CameraAngle::EyeLevel);
        shot.subject = scene.heading.location.clone();
        shot.action = scene
            .elements
            .iter()
            .find_map(|e| match e {
                ScriptElement::Action { text, .. } => {
                    Some(text.text.lines().next().unwrap_or("").to_owned())
                }
                _ => None,
            })
            .unwrap_or_default();
        shot.dialogue = speeches.iter().map(|d| d.id).collect();
        shot.notes = "Master shot from the rough cut".to_owned();
        commands.push(EditCommand::AddShot {
            shot: Box::new(shot.clone()),
            after: None,
        });
        shots.push(shot);
    }

    // Fresh tracks: storyboard, one per speaking character (in order of first speech), music.
    for track in &project.timeline.tracks {
        commands.push(EditCommand::RemoveTrack { track: track.id });
    }
    let storyboard = Track::new("Storyboard", TrackKind::Video);
    let storyboard_id = storyboard.id;
    commands.push(EditCommand::AddTrack {
        index: None,
        track: storyboard,
    });
    let mut speaker_tracks: HashMap<Option<CharacterId>, TrackId> = HashMap::new();
    let mut line_speaker: HashMap<LineId, Option<CharacterId>> = HashMap::new();
    for scene in &project.script.scenes {
        for d in scene.dialogue() {
            line_speaker.insert(d.id, d.character);
            if speaker_tracks.contains_key(&d.character) {
                continue;
            }
            let name = d
                .character
                .and_then(|c| project.script.character(c))
                .map_or_else(|| d.cue.clone(), |c| c.name.clone());
            let track = Track::new(format!("Dialogue - {name}"), TrackKind::Audio);
            speaker_tracks.insert(d.character, track.id);
            commands.push(EditCommand::AddTrack { index: None, track });
        }
    }
    commands.push(EditCommand::AddTrack {
        index: None,
        track: Track::new("Music / SFX", TrackKind::Audio),
    });

    let scene_numbers: HashMap<_, _> = project
        .script
        .scenes
        .iter()
        .zip(project.script.display_numbers())
        .map(|(s, n)| (s.id, n.unwrap_or_default()))
        .collect();
    let mut shots_seen: HashMap<crate::ids::SceneId, usize> = HashMap::new();
    let mut at = 0i64;
    for shot in &shots {
        // Speeches one after another from half a second into the shot; the picture lasts at
        // least until the last one ends.
        let mut cursor = at + frames(0.5, rate);
        for line in &shot.dialogue {
            let Some((_, block)) = project.script.dialogue(*line) else {
                continue;
            };
            let Some(track) = line_speaker.get(line).and_then(|c| speaker_tracks.get(c)) else {
                continue;
            };
            let length = speech_frames(&block.spoken_text(), rate);
            commands.push(EditCommand::OverwriteClip {
                track: *track,
                frame: cursor,
                clip: Clip::new(
                    block.cue.clone(),
                    ClipSource::Dialogue {
                        line: *line,
                        take: None,
                    },
                    length,
                ),
            });
            cursor += length + frames(PAUSE_SECONDS, rate);
        }
        let length = shot
            .duration
            .rescaled(rate, Rounding::Nearest)
            .value
            .max(cursor - at)
            .max(1);
        let n = shots_seen.entry(shot.scene).or_insert(0);
        *n += 1;
        let name = shot.label.clone().unwrap_or_else(|| {
            format!(
                "{}.{n}",
                scene_numbers.get(&shot.scene).map_or("?", String::as_str)
            )
        });
        commands.push(EditCommand::InsertClip {
            track: storyboard_id,
            frame: at,
            clip: Clip::new(name, ClipSource::Shot { shot: shot.id }, length),
        });
        at += length;
    }
    EditCommand::Batch {
        label: "Rough cut from script".to_owned(),
        commands,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rough_cut_of_a_synthetic_script_is_sound_and_undoable() {
        let mut project = crate::synth::project(24, 0);
        project.shots.clear();
        let before = project.clone();
        let applied = project.apply(&rough_cut(&project)).unwrap();
        assert!(project.validate().is_empty(), "{:?}", project.validate());
        assert_eq!(project.shots.len(), 3, "one master shot per scene");
        let names: Vec<&str> = project
            .timeline
            .tracks
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names[0], "Storyboard");
        assert_eq!(*names.last().unwrap(), "Music / SFX");
        assert!(names.contains(&"Dialogue - MARA"));
        let storyboard = &project.timeline.tracks[0];
        assert_eq!(storyboard.items.len(), 3);
        assert!(storyboard.items.iter().all(|i| !i.is_gap()));
        // Every speech is on the timeline, inside the picture's length.
        let speeches: usize = project
            .script
            .scenes
            .iter()
            .map(|s| s.dialogue().count())
            .sum();
        let placed = project
            .timeline
            .clips()
            .filter(|(_, _, c)| matches!(c.source, ClipSource::Dialogue { .. }))
            .count();
        assert_eq!(placed, speeches);
        assert!(
            project
                .timeline
                .tracks
                .iter()
                .all(|t| t.duration_frames() <= storyboard.duration_frames())
        );
        project.apply_changes(&applied.undo).unwrap();
        assert_eq!(project, before);
    }

    #[test]
    fn speech_timing_is_reading_speed() {
        // Ten words at 150 wpm is four seconds, plus a breath.
        assert_eq!(
            speech_frames(
                "one two three four five six seven eight nine ten",
                Rate::FPS_24
            ),
            104
        );
    }
}
