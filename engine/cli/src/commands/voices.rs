//! `previz voices`: every line of dialogue spoken by its character's voice, scene by scene.
//!
//! Characters without a voice are cast first (kept in the character bible). Each scene's
//! takes and re-timing land as one undo step and the project is saved before the next scene,
//! so an interrupted run keeps the scenes done; running again keeps lines whose take already
//! says the current words in the current voice.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use previz_breakdown::{BreakdownError, SceneSelection};
use previz_jobs::{CancelToken, JobContext, JobKind};
use previz_models::device::DeviceChoice;
use previz_storage::OpenMode;
use previz_voices::{LineStatus, VoiceBank, VoiceFamily, VoicesOptions, VoicesSummary, run_voices};
use serde::Serialize;

use super::{close, open, project_dir, storage_error};
use crate::args::VoicesArgs;
use crate::output::{CliError, print_json, print_text};

#[derive(Serialize)]
struct Report {
    default_voice: String,
    voiced: usize,
    kept: usize,
    cast: usize,
    seconds: f64,
    cancelled: bool,
}

pub fn run(args: &VoicesArgs, json: bool) -> Result<(), CliError> {
    let scenes: SceneSelection = match &args.scenes {
        Some(text) => text
            .parse()
            .map_err(|e: BreakdownError| CliError::bad_input(e.to_string()))?,
        None => SceneSelection::All,
    };
    let device: DeviceChoice = args
        .device
        .parse()
        .map_err(|e: previz_models::device::DeviceError| CliError::bad_input(e.to_string()))?;
    let mut bank = VoiceBank::discover(device);
    if args.list {
        return list(&bank, json);
    }
    let default_voice = bank.default_voice();
    if default_voice == "silent" && !json {
        eprintln!(
            "warning: espeak-ng is not installed, so no voice can speak; lines get silent clips timed at reading speed (install espeak-ng: apt install espeak-ng)"
        );
    }
    let dir = project_dir(args.project.as_deref())?;
    let mode = if args.take_over {
        OpenMode::TakeOver
    } else {
        OpenMode::ReadWrite
    };
    let (mut session, _) = open(&dir, mode, json)?;
    let store = session.assets();
    let count = session.project().script.scenes.len();
    let selected: Vec<usize> = (1..=count).filter(|&n| scenes.contains(n)).collect();
    let lines_total: usize = selected
        .iter()
        .map(|&n| session.project().script.scenes[n - 1].dialogue().count())
        .sum();
    let bar = ProgressBar::new(lines_total as u64);
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} lines {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let ctx = JobContext::detached(JobKind::Voices, "voices", CancelToken::new());
    let mut total = VoicesSummary::default();
    for n in selected {
        let options = VoicesOptions {
            scenes: Some(vec![n - 1]),
            force: args.force,
            seed: args.seed,
            default_voice: None,
            lines: None,
        };
        let project = session.project().clone();
        let result = run_voices(&project, &mut bank, &store, &options, &ctx, |o| {
            bar.inc(1);
            bar.set_message(format!("{}: {}", o.cue, o.voice));
            if !json && o.status == LineStatus::Voiced {
                bar.suspend(|| eprintln!("scene {n}: {} ({:.1} s, {})", o.cue, o.seconds, o.voice));
            }
        });
        let (command, summary) = match result {
            Ok(r) => r,
            Err(e) => {
                bar.finish_and_clear();
                close(session);
                return Err(CliError::failure(e.to_string()));
            }
        };
        if let Some(command) = command
            && let Err(e) = session.apply(&command).and_then(|_| session.save())
        {
            bar.finish_and_clear();
            close(session);
            return Err(storage_error(&e));
        }
        total.voiced += summary.voiced;
        total.kept += summary.kept;
        total.cast += summary.cast;
        total.seconds += summary.seconds;
        if summary.cancelled {
            total.cancelled = true;
            break;
        }
    }
    bar.finish_and_clear();
    close(session);
    let report = Report {
        default_voice,
        voiced: total.voiced,
        kept: total.kept,
        cast: total.cast,
        seconds: total.seconds,
        cancelled: total.cancelled,
    };
    if json {
        return print_json(&report);
    }
    print_text(&format!(
        "Voiced {} lines ({:.1} s of dialogue) in {}; {} kept (up to date); {} characters cast (default voice {}){}",
        report.voiced,
        report.seconds,
        dir.display(),
        report.kept,
        report.cast,
        report.default_voice,
        if report.cancelled {
            "; cancelled, run again to go on"
        } else {
            ""
        }
    ))
}

#[derive(Serialize)]
struct Listed {
    id: String,
    label: String,
    engine: &'static str,
    speakers: Vec<String>,
    speaker_count: usize,
}

#[derive(Serialize)]
struct Listing {
    default_voice: String,
    voices: Vec<Listed>,
    espeak_variants: Vec<String>,
    notes: Vec<String>,
}

/// `previz voices --list`: what a character's voice may be cast as here.
fn list(bank: &VoiceBank, json: bool) -> Result<(), CliError> {
    let catalogue = bank.catalogue();
    let listing = Listing {
        default_voice: bank.default_voice(),
        voices: catalogue
            .voices
            .iter()
            .map(|v| Listed {
                id: v.id.clone(),
                label: v.label.clone(),
                engine: match v.family {
                    VoiceFamily::Piper => "piper",
                    VoiceFamily::Espeak => "espeak-ng",
                    VoiceFamily::Silent => "silent",
                },
                speakers: v.speakers.clone(),
                speaker_count: v.speaker_count,
            })
            .collect(),
        espeak_variants: catalogue.variants.iter().map(|v| v.name.clone()).collect(),
        notes: catalogue.notes.clone(),
    };
    if json {
        return print_json(&listing);
    }
    let mut text = String::new();
    for v in &listing.voices {
        let speakers = if v.speaker_count > 1 {
            format!("  speakers: {}", v.speakers.join(", "))
        } else {
            String::new()
        };
        text.push_str(&format!("{:<28} {}{speakers}\n", v.id, v.label));
    }
    if !listing.espeak_variants.is_empty() {
        text.push_str(&format!(
            "\nespeak-ng variants (cast as espeak:<language>+<variant>, e.g. espeak:en-us+{}): {}\n",
            listing.espeak_variants[0],
            listing.espeak_variants.join(", ")
        ));
    }
    for note in &listing.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    text.push_str(&format!("new characters get: {}\n", listing.default_voice));
    print_text(&text)
}
