//! `previz batch`: the whole pipeline without a display, as work units (see previz-batch).
//!
//! Progress: a bar on a terminal, one line per unit in logs, or `--progress json` (one object
//! per line on stdout) for farm managers. SIGINT and SIGTERM cancel cleanly: the unit in
//! flight stops, its claim is released, finished units stay published (exit 130).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use previz_batch::{
    BatchEngines, BatchOptions, Event, EventSink, Mode, Shard, Steps, UnitStatus, default_exports,
};
use previz_breakdown::{BreakdownError, SceneSelection};
use previz_jobs::CancelToken;
use previz_models::device::DeviceChoice;
use previz_render::export::ExportFormat;
use previz_voices::VoiceBank;

use super::frames::{FrameEngineSpec, frame_engine};
use super::import::{import_new, import_revision};
use super::new::with_extension;
use super::{breakdown, project_dir};
use crate::args::{BatchArgs, ProgressMode};
use crate::output::{CliError, ErrorKind};

/// The project `input` means: a project folder as given, or a screenplay's project (created
/// from it the first time, revised from it when it changed).
fn project_for(args: &BatchArgs, quiet: bool) -> Result<PathBuf, CliError> {
    let input = &args.input;
    let is_project = input.is_dir()
        || input.extension().is_some_and(|e| e == "previz")
        || input.file_name().is_some_and(|n| n == "project.json");
    if is_project {
        if args.project.is_some() {
            return Err(CliError::bad_input(
                "--project is for a screenplay input; the input is already a project",
            ));
        }
        return project_dir(Some(input));
    }
    let dir = match &args.project {
        Some(p) => with_extension(p),
        None => {
            let stem = input
                .file_stem()
                .map_or_else(|| "script".into(), |s| s.to_string_lossy().into_owned());
            input
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(format!("{stem}.previz"))
        }
    };
    let said = if dir.join("project.json").is_file() {
        import_revision(input, &dir, args.take_over)?
    } else {
        Some(import_new(input, &dir)?)
    };
    if let Some(text) = said
        && !quiet
    {
        eprintln!("previz: {text}");
    }
    Ok(dir)
}

fn exports_from(text: Option<&str>) -> Result<Vec<ExportFormat>, CliError> {
    let Some(text) = text else {
        return Ok(default_exports());
    };
    text.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            ExportFormat::ALL
                .into_iter()
                .find(|f| f.name().eq_ignore_ascii_case(w) || f.extension() == Some(w))
                .ok_or_else(|| {
                    CliError::bad_input(format!(
                        "--exports: '{w}' is not an export; use otio, edl, xmeml, fcpxml, csv, pdf, frames"
                    ))
                })
        })
        .collect()
}

/// Progress for people: a bar on a terminal, or one line per unit (logs).
struct People {
    bar: Option<ProgressBar>,
}

impl EventSink for People {
    fn event(&mut self, event: &Event) {
        let line = match event {
            Event::Start {
                project,
                mode,
                shard,
                steps,
                scenes,
                ..
            } => Some(format!(
                "previz batch: {project} ({mode}, shard {shard}, steps {steps}; {} scene{} of its own)",
                scenes.len(),
                if scenes.len() == 1 { "" } else { "s" }
            )),
            Event::Planned { total, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(*total as u64);
                }
                None
            }
            Event::Begin { label, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(label.clone());
                }
                None
            }
            Event::Progress { label, message, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("{label}: {message}"));
                }
                None
            }
            Event::Unit {
                label,
                status,
                seconds,
                message,
                finished,
                total,
                kind,
                ..
            } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(*finished as u64);
                }
                let what = match status {
                    UnitStatus::Done => format!("done in {seconds:.1} s"),
                    UnitStatus::Cached => "already done".into(),
                    UnitStatus::Held => "being made by another worker".into(),
                    UnitStatus::Failed => "FAILED".into(),
                };
                let more = message
                    .as_deref()
                    .map_or(String::new(), |m| format!(": {m}"));
                Some(format!("[{finished}/{total}] {kind} {label}: {what}{more}"))
            }
            Event::Applied { what, edits } => Some(format!("landed {what}: {edits} edits")),
            Event::Warning { message } => Some(format!("warning: {message}")),
            Event::Output { path, bytes } => Some(format!("wrote {path} ({bytes} bytes)")),
            Event::Summary {
                summary, seconds, ..
            } => Some(format!(
                "{} units made, {} already done, {} elsewhere, {} failed, {} up to date in {:.1} s",
                summary.done,
                summary.cached,
                summary.elsewhere + summary.held,
                summary.failed,
                summary.up_to_date,
                seconds
            )),
        };
        if let Some(line) = line {
            match &self.bar {
                Some(bar) => bar.suspend(|| eprintln!("{line}")),
                None => eprintln!("{line}"),
            }
        }
    }
}

/// `--progress json`: every event, one line each, flushed (a farm manager tails it).
struct JsonLines;

impl EventSink for JsonLines {
    fn event(&mut self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

struct Silent;

impl EventSink for Silent {
    fn event(&mut self, _event: &Event) {}
}

/// SIGINT / SIGTERM cancel `token` (installed once per process).
pub(crate) fn cancel_on_signals(token: &CancelToken) {
    let token = token.clone();
    let _ = ctrlc::set_handler(move || {
        if token.is_cancelled() {
            // A second ctrl-c: the user means it.
            std::process::exit(130);
        }
        token.cancel();
    });
}

pub fn run(args: &BatchArgs, json: bool) -> Result<(), CliError> {
    let progress = match (args.progress, json) {
        (ProgressMode::Auto, true) => ProgressMode::Json,
        (ProgressMode::Auto, false) if std::io::stderr().is_terminal() => ProgressMode::Bar,
        (ProgressMode::Auto, false) => ProgressMode::Plain,
        (p, _) => p,
    };
    let steps: Steps = args.steps.parse().map_err(CliError::bad_input)?;
    let scenes: SceneSelection = match &args.scenes {
        Some(text) => text
            .parse()
            .map_err(|e: BreakdownError| CliError::bad_input(e.to_string()))?,
        None => SceneSelection::All,
    };
    let env_shard =
        Shard::from_env(|k| std::env::var(k).ok(), args.shards).map_err(CliError::bad_input)?;
    let shard = match (&args.shard, env_shard, args.gather) {
        (_, _, true) => None,
        (Some(text), _, _) => Some(text.parse::<Shard>().map_err(CliError::bad_input)?),
        (None, env, _) => env,
    };
    let mode = match (args.gather, shard) {
        (true, _) => Mode::Gather,
        (false, Some(_)) => Mode::Work,
        (false, None) => Mode::All,
    };
    let exports = exports_from(args.exports.as_deref())?;
    let device: DeviceChoice = args
        .device
        .parse()
        .map_err(|e: previz_models::device::DeviceError| CliError::bad_input(e.to_string()))?;
    let dir = project_for(
        args,
        progress == ProgressMode::Json || progress == ProgressMode::None,
    )?;
    let out_dir = args.out.clone().unwrap_or_else(|| {
        let stem = dir
            .file_stem()
            .map_or_else(|| "previz".into(), |s| s.to_string_lossy().into_owned());
        dir.parent()
            .unwrap_or_else(|| Path::new("."))
            .join(format!("{stem}_exports"))
    });
    let mut engines = BatchEngines {
        breakdown: breakdown::engine_for(args.breakdown_model.as_deref(), &args.device, args.seed)?,
        frames: frame_engine(&FrameEngineSpec {
            model: args.frames_model.as_deref(),
            loras: &[],
            ip_adapter: previz_storage::settings::Settings::user()
                .ip_adapter
                .as_deref(),
            device: &args.device,
            steps: None,
            guidance: None,
            scheduler: "euler_a",
        })?,
        voices: VoiceBank::discover(device),
        default_voice: None,
    };
    let shard = shard.unwrap_or(Shard::WHOLE);
    let options = BatchOptions {
        steps,
        scenes,
        shots: args.shots.clone(),
        seed: args.seed,
        takes: args.takes.max(1),
        shard,
        mode,
        steal: !args.no_steal,
        wait: !args.no_wait,
        stale_after: Duration::from_secs(args.claim_timeout.max(1)),
        exports,
        out_dir,
        take_over: args.take_over,
        worker: format!(
            "previz batch shard {shard} on {} (pid {})",
            previz_storage::host::host_name(),
            std::process::id()
        ),
    };
    let cancel = CancelToken::new();
    cancel_on_signals(&cancel);
    let result = match progress {
        ProgressMode::Json => {
            previz_batch::run(&dir, &mut engines, &options, &mut JsonLines, &cancel)
        }
        ProgressMode::None => previz_batch::run(&dir, &mut engines, &options, &mut Silent, &cancel),
        ProgressMode::Bar | ProgressMode::Plain | ProgressMode::Auto => {
            let bar = (progress == ProgressMode::Bar).then(|| {
                let bar = ProgressBar::new(0);
                if !std::io::stderr().is_terminal() {
                    bar.set_draw_target(ProgressDrawTarget::hidden());
                }
                bar.set_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} units {elapsed} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar
            });
            let mut people = People { bar };
            let r = previz_batch::run(&dir, &mut engines, &options, &mut people, &cancel);
            if let Some(bar) = people.bar {
                bar.finish_and_clear();
            }
            r
        }
    };
    let summary = result.map_err(|e| {
        let kind = if e.exit_status() == 2 {
            ErrorKind::BadInput
        } else {
            ErrorKind::Failure
        };
        CliError::of_kind(kind, e.to_string())
    })?;
    match summary.exit_status() {
        0 => Ok(()),
        130 => Err(CliError::of_kind(
            ErrorKind::Cancelled,
            "cancelled; finished units are kept: run the same command again to go on",
        )),
        75 => Err(CliError::of_kind(
            ErrorKind::TryLater,
            format!(
                "{} units are still being made by other workers; run the gather again when they finish",
                summary.held
            ),
        )),
        _ => Err(CliError::failure(format!(
            "{} unit{} failed (the rest went on; each failure is reported above); run the same command again to retry {}",
            summary.failed,
            if summary.failed == 1 { "" } else { "s" },
            if summary.failed == 1 { "it" } else { "them" }
        ))),
    }
}
