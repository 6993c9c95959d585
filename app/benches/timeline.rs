//! CPU cost of one frame of the timeline panel, headless (egui's `Context::run_ui`, no GPU),
//! on a 10,000-clip edit at three zooms, and on a 1,000-clip edit at the same zooms to show the
//! cost follows what is visible rather than the total.
//!
//! `cargo bench -p previz-studio --bench timeline --profile dev` (the profile CI builds: the
//! studio crate at opt-level 0, its dependencies at 3). Prints medians over 100 frames after a
//! warm-up; there are no timing assertions.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::path::Path;
use std::time::{Duration, Instant};

use egui::{Event, Pos2, RawInput, Rect, pos2};
use previz_jobs::{JobQueue, QueueConfig};
use previz_storage::Session;
use previz_studio::Studio;
use previz_studio::panels::timeline::{self, TimelineView};
use previz_studio::settings::StudioSettings;
use previz_studio::studio::{AutosaveState, OpenProject};

/// The frame budget the timeline aims at, leaving the rest of a 60 Hz frame to the others.
const TARGET_MS: f64 = 4.0;
const WARM_UP: usize = 20;
const FRAMES: usize = 100;
const SCREEN: Rect = Rect::from_min_max(Pos2::ZERO, pos2(1600.0, 420.0));

fn studio_with(clips: usize, dir: &Path) -> Result<Studio, String> {
    let project = previz_core::synth::project(clips, clips);
    let session = Session::create(dir.join(format!("bench-{clips}.previz")), project)
        .map_err(|e| e.to_string())?;
    let mut studio = Studio::new(
        JobQueue::new(QueueConfig::default()),
        StudioSettings::default(),
    );
    studio.project = Some(OpenProject {
        session,
        open_messages: Vec::new(),
        autosave: AutosaveState::Saved { at: None },
    });
    studio.revision += 1;
    Ok(studio)
}

/// Runs one frame; returns (UI pass, tessellation) times.
fn frame(
    ctx: &egui::Context,
    studio: &mut Studio,
    view: &mut TimelineView,
    events: Vec<Event>,
) -> (Duration, Duration) {
    let input = RawInput {
        screen_rect: Some(SCREEN),
        events,
        ..RawInput::default()
    };
    let started = Instant::now();
    let mut output = ctx.run_ui(input, |ui| {
        egui::CentralPanel::default().show(ui, |ui| timeline::ui(ui, studio, view));
    });
    let ui_done = Instant::now();
    let shapes = std::mem::take(&mut output.shapes);
    let primitives = ctx.tessellate(shapes, output.pixels_per_point);
    let tessellated = Instant::now();
    std::hint::black_box(primitives);
    output.drop_without_applying_deltas();
    (ui_done - started, tessellated - ui_done)
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort_unstable();
    samples
        .get(samples.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

struct Row {
    visible: usize,
    ui_ms: f64,
    tessellate_ms: f64,
    rebuilds: u64,
}

/// Measures frames at one zoom; `bump` moves the document revision every frame, as a drag
/// does, so each frame pays for rebuilding the cached layout.
fn measure(
    ctx: &egui::Context,
    studio: &mut Studio,
    view: &mut TimelineView,
    first: f64,
    count: f64,
    bump: bool,
) -> Row {
    view.show_frames(first, count);
    let pointer = vec![Event::PointerMoved(pos2(800.0, 200.0))];
    for k in 0..WARM_UP {
        frame(
            ctx,
            studio,
            view,
            if k == 0 { pointer.clone() } else { Vec::new() },
        );
    }
    let rebuilds_before = view.layout_rebuilds();
    let (mut ui, mut tess) = (Vec::with_capacity(FRAMES), Vec::with_capacity(FRAMES));
    for _ in 0..FRAMES {
        if bump {
            studio.revision += 1;
        }
        let (u, t) = frame(ctx, studio, view, Vec::new());
        ui.push(u);
        tess.push(t);
    }
    Row {
        visible: view.visible_clips(),
        ui_ms: median(ui),
        tessellate_ms: median(tess),
        rebuilds: view.layout_rebuilds() - rebuilds_before,
    }
}

/// Drags a clip in the middle of the edit one frame further every UI frame, in the 5-second
/// view, as a person would: each frame rewinds the gesture and applies a `MoveClip`, bumps the
/// revision and rebuilds the layout. Returns (visible clips, first frame ms, median ms of the
/// following frames).
fn measure_drag(
    ctx: &egui::Context,
    studio: &mut Studio,
    view: &mut TimelineView,
    mid: f64,
    count: f64,
) -> Result<(usize, f64, f64), String> {
    view.show_frames(mid, count);
    for _ in 0..WARM_UP {
        frame(ctx, studio, view, Vec::new());
    }
    let clip = studio
        .doc()
        .and_then(|d| {
            let track = d.timeline.tracks.first()?;
            let (index, _, _) = track.item_at(mid as i64 + 24)?;
            Some(track.items[index].id())
        })
        .ok_or("no clip in the middle of the edit")?;
    let rect = studio
        .doc()
        .and_then(|d| view.clip_rect(d, clip))
        .ok_or("the clip is not drawn")?;
    let lanes = view.lanes_rect().ok_or("the timeline is not drawn")?;
    let step = view.points_per_frame;
    // The middle of the part of the clip on screen, clear of its edges.
    let start = rect.intersect(lanes).center();
    let press = vec![
        Event::PointerMoved(start),
        Event::PointerButton {
            pos: start,
            button: egui::PointerButton::Primary,
            pressed: true,
            modifiers: egui::Modifiers::NONE,
        },
    ];
    frame(ctx, studio, view, press);
    let mut times = Vec::with_capacity(FRAMES);
    let mut first = Duration::ZERO;
    for k in 1..=FRAMES {
        let to = start + egui::vec2(step * k as f32, 0.0);
        let (u, t) = frame(ctx, studio, view, vec![Event::PointerMoved(to)]);
        if k == 1 {
            first = u + t;
        } else {
            times.push(u + t);
        }
    }
    let end = start + egui::vec2(step * FRAMES as f32, 0.0);
    let release = vec![Event::PointerButton {
        pos: end,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    }];
    frame(ctx, studio, view, release);
    frame(ctx, studio, view, Vec::new());
    if studio.undo_label().as_deref() != Some("Move clip") {
        return Err(format!(
            "the drag did not make one Move clip step (undo says {:?})",
            studio.undo_label()
        ));
    }
    Ok((
        view.visible_clips(),
        first.as_secs_f64() * 1000.0,
        median(times),
    ))
}

fn main() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    println!(
        "timeline panel, one headless UI frame at {}x{} points, median of {FRAMES} frames after {WARM_UP}",
        SCREEN.width(),
        SCREEN.height()
    );
    println!(
        "{:>7}  {:<26} {:>8}  {:>8}  {:>9}  {:>8}  {:>9}  {:>8}",
        "clips", "zoom", "visible", "ui ms", "tess. ms", "total", "vs 4 ms", "rebuilds"
    );
    for clips in [10_000, 1_000] {
        let mut studio = studio_with(clips, dir.path())?;
        let ctx = egui::Context::default();
        let mut view = TimelineView::default();
        let (duration, fps) = studio.doc().map_or((0, 24), |d| {
            (
                d.timeline.duration_frames(),
                i64::from(d.timeline.rate.timecode_base()),
            )
        });
        let mid = duration as f64 / 2.0;
        let zooms = [
            ("whole edit", 0.0, duration as f64 * 1.02, false),
            ("1 minute", mid, 60.0 * fps as f64, false),
            ("5 seconds", mid, 5.0 * fps as f64, false),
            (
                "whole edit, new revision",
                0.0,
                duration as f64 * 1.02,
                true,
            ),
        ];
        for (name, first, count, bump) in zooms {
            let row = measure(&ctx, &mut studio, &mut view, first, count, bump);
            let total = row.ui_ms + row.tessellate_ms;
            println!(
                "{clips:>7}  {name:<26} {:>8}  {:>8.3}  {:>9.3}  {:>8.3}  {:>8.2}x  {:>8}",
                row.visible,
                row.ui_ms,
                row.tessellate_ms,
                total,
                total / TARGET_MS,
                row.rebuilds
            );
        }
        let (visible, first, rest) =
            measure_drag(&ctx, &mut studio, &mut view, mid, 5.0 * fps as f64)?;
        println!(
            "{clips:>7}  {:<26} {visible:>8}  {:>8}  {:>9}  {rest:>8.3}  {:>8.2}x  {:>8}",
            "drag, 5 seconds",
            "",
            "",
            rest / TARGET_MS,
            "1/frame"
        );
        println!(
            "{clips:>7}  {:<26} {visible:>8}  {:>8}  {:>9}  {first:>8.3}  {:>8.2}x",
            "drag start (snap targets)",
            "",
            "",
            first / TARGET_MS
        );
        studio.close_project();
    }
    println!(
        "vs 4 ms: total over the 4 ms budget (below 1.00x is within it); rebuilds: layout cache rebuilds during the {FRAMES} frames"
    );
    println!(
        "drag: the clip moves a frame every UI frame (rewind the gesture, one MoveClip, new revision, layout rebuilt); the total column is the median of those frames"
    );
    Ok(())
}
