//! Voicing a project's dialogue, line by line, as one undoable batch.

use previz_core::Extra;
use previz_core::edit::EditCommand;
use previz_core::ids::{LineId, TakeId};
use previz_core::project::Project;
use previz_core::script::{Casting, CharacterField};
use previz_core::shot::{Asset, AssetKind, MediaInfo, Provenance, Take};
use previz_core::time::{Rate, RationalTime};
use previz_core::timeline::{ClipSource, Item};
use previz_jobs::JobContext;
use previz_storage::AssetStore;

use crate::VoicesError;
use crate::delivery::segments;
use crate::engine::VoiceBank;

/// Which lines to voice and how.
#[derive(Clone, Debug, Default)]
pub struct VoicesOptions {
    /// Scene indexes (0-based, script order); `None` is every scene.
    pub scenes: Option<Vec<usize>>,
    /// Re-voice lines whose active take already says the current words in the current voice.
    pub force: bool,
    /// Seed of the voices' noise (each line adds its own offset).
    pub seed: u64,
    /// The voice characters without one are cast with (default: the bank's).
    pub default_voice: Option<String>,
    /// Only these lines (within the selected scenes); `None` is every line.
    pub lines: Option<Vec<LineId>>,
}

/// What happened to one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineStatus {
    /// A new take was made and made active.
    Voiced,
    /// The active take already says these words in this voice.
    Kept,
}

/// One line's outcome, for progress and reports.
#[derive(Clone, Debug)]
pub struct LineOutcome {
    pub line: LineId,
    pub cue: String,
    pub status: LineStatus,
    pub seconds: f64,
    pub voice: String,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VoicesSummary {
    pub voiced: usize,
    pub kept: usize,
    /// Characters given a voice because they had none.
    pub cast: usize,
    /// Seconds of dialogue voiced.
    pub seconds: f64,
    pub cancelled: bool,
}

/// The casting key provenance records: voice, speaker, speed, pitch.
#[must_use]
pub fn casting_key(c: &Casting) -> String {
    format!(
        "{}|{}|{}|{}",
        c.voice,
        c.speaker.as_deref().unwrap_or(""),
        c.speed_percent,
        c.pitch_semitones
    )
}

/// Distinct default castings for a cast sharing one voice: pitch steps apart so two
/// characters in a scene don't sound the same.
fn auto_casting(voice: &str, index: usize) -> Casting {
    const PITCHES: [i32; 6] = [0, -3, 3, -5, 2, -1];
    const SPEEDS: [u32; 6] = [100, 96, 104, 94, 102, 98];
    let mut c = Casting::new(voice);
    c.pitch_semitones = PITCHES[index % PITCHES.len()];
    c.speed_percent = SPEEDS[index % SPEEDS.len()];
    c
}

fn frames_for(samples: usize, sample_rate: u32, rate: Rate) -> i64 {
    let seconds = samples as f64 / f64::from(sample_rate.max(1));
    #[allow(clippy::cast_possible_truncation)]
    let frames = (seconds * rate.as_f64()).ceil() as i64;
    frames.max(1)
}

/// The edit that gives `line`'s clip the length of its active take, when they differ (a take
/// attached without its re-timing, as a render farm's workers do).
#[must_use]
pub fn retime_command(project: &Project, line: LineId) -> Option<EditCommand> {
    let take = project.voices.get(&line)?.active()?;
    let frames = project
        .assets
        .get(&take.asset)?
        .media
        .duration?
        .rescaled(project.timeline.rate, previz_core::time::Rounding::Ceil)
        .value
        .max(1);
    let clip = line_clip_frames(project, line)?;
    (frames != clip).then_some(EditCommand::RetimeLine {
        line,
        duration_frames: frames,
    })
}

fn line_clip_frames(project: &Project, line: LineId) -> Option<i64> {
    project.timeline.tracks.iter().find_map(|t| {
        t.items.iter().find_map(|i| match i {
            Item::Clip(c) if matches!(c.source, ClipSource::Dialogue { line: l, .. } if l == line) => {
                Some(c.duration_frames)
            }
            _ => None,
        })
    })
}

/// The edits that cast every character who speaks and has no voice yet with `default_voice`
/// (pitch and speed steps apart, in the order of the cast list): the first thing a voicing
/// run does, and what a render farm's gather applies before the lines its workers voiced.
#[must_use]
pub fn casting_commands(project: &Project, default_voice: &str) -> Vec<EditCommand> {
    project
        .script
        .characters
        .iter()
        .filter(|c| c.voice.is_none())
        .filter(|c| {
            project
                .script
                .scenes
                .iter()
                .any(|s| s.dialogue().any(|d| d.character == Some(c.id)))
        })
        .enumerate()
        .map(|(i, c)| EditCommand::EditCharacter {
            character: c.id,
            field: CharacterField::Voice(Some(auto_casting(default_voice, i))),
        })
        .collect()
}

/// A line's noise seed: `base` plus a number from the line's id, so a line sounds the same
/// whichever other lines are voiced in the same run (on one machine or across a farm).
#[must_use]
pub fn line_seed(line: LineId, base: u64) -> u64 {
    let h = blake3::hash(line.to_string().as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    base.wrapping_add(u64::from_le_bytes(b) % 1_000_000_007)
}

/// Everything that decides the take [`run_voices`] makes for `line` (its words and
/// delivery, the casting and the voice model's hash, the seed, the audio rate), as JSON:
/// a render farm hashes it to key the line. `None` for a line without words.
pub fn line_inputs(
    project: &Project,
    bank: &mut VoiceBank,
    line: LineId,
    options: &VoicesOptions,
) -> Result<Option<serde_json::Value>, VoicesError> {
    let Some((_, block)) = project.script.dialogue(line) else {
        return Ok(None);
    };
    let spoken = block.spoken_text();
    if spoken.trim().is_empty() {
        return Ok(None);
    }
    let default_voice = options
        .default_voice
        .clone()
        .unwrap_or_else(|| bank.default_voice());
    let casting = block
        .character
        .and_then(|c| project.script.character(c))
        .and_then(|c| c.voice.clone())
        .unwrap_or_else(|| Casting::new(default_voice));
    Ok(Some(serde_json::json!({
        "spoken": spoken,
        "segments": format!("{:?}", segments(block)),
        "casting": casting_key(&casting),
        "voice": bank.identity(&casting.voice)?,
        "seed": line_seed(line, options.seed),
        "rate": project.settings.audio_sample_rate,
    })))
}

/// Whether `line`'s active take says its current words in its current voice: what
/// [`run_voices`] keeps unless forced.
#[must_use]
pub fn line_up_to_date(project: &Project, line: LineId, default_voice: &str) -> bool {
    let Some((_, block)) = project.script.dialogue(line) else {
        return true;
    };
    let spoken = block.spoken_text();
    if spoken.trim().is_empty() {
        return true;
    }
    let casting = block
        .character
        .and_then(|c| project.script.character(c))
        .and_then(|c| c.voice.clone())
        .unwrap_or_else(|| Casting::new(default_voice));
    let key = casting_key(&casting);
    project
        .voices
        .get(&line)
        .and_then(|v| v.active())
        .is_some_and(|t| {
            t.provenance.prompt == spoken && t.provenance.voice.as_deref() == Some(key.as_str())
        })
}

/// Voices the dialogue of `project` and returns the commands that land it (casting, takes,
/// re-timing) as one batch. Takes are written to `store` as they are made, so a cancelled run
/// keeps its files and the lines done so far.
pub fn run_voices(
    project: &Project,
    bank: &mut VoiceBank,
    store: &AssetStore,
    options: &VoicesOptions,
    ctx: &JobContext,
    mut on_line: impl FnMut(&LineOutcome),
) -> Result<(Option<EditCommand>, VoicesSummary), VoicesError> {
    let mut working = project.clone();
    let mut commands: Vec<EditCommand> = Vec::new();
    let mut summary = VoicesSummary::default();
    let land = |working: &mut Project, commands: &mut Vec<EditCommand>, c: EditCommand| {
        working
            .apply(&c)
            .map_err(|e| VoicesError::Edit(e.to_string()))?;
        commands.push(c);
        Ok::<(), VoicesError>(())
    };

    // Cast whoever speaks and has no voice yet.
    let default_voice = options
        .default_voice
        .clone()
        .unwrap_or_else(|| bank.default_voice());
    for command in casting_commands(project, &default_voice) {
        land(&mut working, &mut commands, command)?;
        summary.cast += 1;
    }

    let lines: Vec<LineId> = project
        .script
        .scenes
        .iter()
        .enumerate()
        .filter(|(i, s)| !s.omitted && options.scenes.as_ref().is_none_or(|v| v.contains(i)))
        .flat_map(|(_, s)| s.dialogue().map(|d| d.id).collect::<Vec<_>>())
        .filter(|l| options.lines.as_ref().is_none_or(|v| v.contains(l)))
        .collect();
    let rate = working.timeline.rate;
    let audio_rate = working.settings.audio_sample_rate;
    let total = lines.len().max(1);
    for (n, line) in lines.iter().enumerate() {
        if ctx.is_cancelled() {
            summary.cancelled = true;
            break;
        }
        let Some((_, block)) = working.script.dialogue(*line) else {
            continue;
        };
        let block = block.clone();
        let spoken = block.spoken_text();
        if spoken.trim().is_empty() {
            continue;
        }
        let casting = block
            .character
            .and_then(|c| working.script.character(c))
            .and_then(|c| c.voice.clone())
            .unwrap_or_else(|| Casting::new(default_voice.clone()));
        let key = casting_key(&casting);
        ctx.progress(
            n as f32 / total as f32,
            format!("{}: {}", block.cue, preview(&spoken)),
        );
        let current = working
            .voices
            .get(line)
            .and_then(|v| v.active())
            .filter(|t| {
                !options.force
                    && t.provenance.prompt == spoken
                    && t.provenance.voice.as_deref() == Some(key.as_str())
            });
        if current.is_some() {
            // Up to date; make sure the clip has the take's length.
            if let Some(retime) = retime_command(&working, *line) {
                land(&mut working, &mut commands, retime)?;
            }
            summary.kept += 1;
            on_line(&LineOutcome {
                line: *line,
                cue: block.cue.clone(),
                status: LineStatus::Kept,
                seconds: 0.0,
                voice: key,
            });
            continue;
        }
        let seed = line_seed(*line, options.seed);
        let rendered = bank.render(&casting, &segments(&block), audio_rate, seed)?;
        let bytes = crate::audio::wav_bytes(&rendered.samples, audio_rate)?;
        let hash = store
            .put(&bytes)
            .map_err(|e| VoicesError::Store(e.to_string()))?;
        let frames = frames_for(rendered.samples.len(), audio_rate, rate);
        let seconds = rendered.samples.len() as f64 / f64::from(audio_rate);
        let asset = Asset {
            hash,
            kind: AssetKind::Audio,
            media: MediaInfo {
                mime: "audio/wav".into(),
                bytes: bytes.len() as u64,
                sample_rate_hz: Some(audio_rate),
                channels: Some(1),
                duration: Rate::new(audio_rate, 1)
                    .ok()
                    .map(|r| RationalTime::new(rendered.samples.len() as i64, r)),
                ..MediaInfo::default()
            },
            extra: Extra::new(),
        };
        let mut extra = Extra::new();
        extra.insert(
            "engine".into(),
            serde_json::Value::String(rendered.engine.label()),
        );
        let take = Take {
            id: TakeId::new(),
            asset: hash,
            provenance: Provenance {
                generator: "tts".into(),
                model_id: match &rendered.engine {
                    crate::EngineKind::Piper { id } => Some(id.clone()),
                    crate::EngineKind::Espeak { voice } => Some(format!("espeak-ng:{voice}")),
                    crate::EngineKind::Silent => None,
                },
                model_hash: rendered.model_hash.clone(),
                prompt: spoken.clone(),
                seed: Some(seed),
                voice: Some(key.clone()),
                extra,
                ..Provenance::default()
            },
            created: jiff::Timestamp::now(),
            note: String::new(),
            extra: Extra::new(),
        };
        let registered = working.assets.contains_key(&hash);
        land(
            &mut working,
            &mut commands,
            EditCommand::AttachLineTake {
                line: *line,
                take: Box::new(take),
                asset: (!registered).then(|| Box::new(asset)),
                make_active: true,
            },
        )?;
        land(
            &mut working,
            &mut commands,
            EditCommand::RetimeLine {
                line: *line,
                duration_frames: frames,
            },
        )?;
        summary.voiced += 1;
        summary.seconds += seconds;
        on_line(&LineOutcome {
            line: *line,
            cue: block.cue.clone(),
            status: LineStatus::Voiced,
            seconds,
            voice: key,
        });
    }
    ctx.progress(1.0, "done");
    let batch = (!commands.is_empty()).then(|| EditCommand::Batch {
        label: format!(
            "Voice the dialogue ({} line{})",
            summary.voiced,
            if summary.voiced == 1 { "" } else { "s" }
        ),
        commands,
    });
    Ok((batch, summary))
}

fn preview(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        s.push('…');
    }
    s
}
