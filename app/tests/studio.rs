//! The studio driven the way a person drives it: the real [`StudioApp`] on a project made from
//! a sample screenplay through the app's own import, found by the labels on screen, clicked and
//! typed at with egui_kittest, and the document checked afterwards.
//!
//! No display is needed. Only `panel_snapshots` renders (wgpu; lavapipe where there is no GPU);
//! the other tests never touch a GPU. Time is simulated: every harness step is a frame 0.25 s
//! after the last, so playback is deterministic.
//!
//! Update the images with `UPDATE_SNAPSHOTS=1 cargo test -p previz-studio --test studio`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use egui_kittest::wgpu::WgpuTestRenderer;
use egui_kittest::{Harness, Node};
use previz_core::{EditCommand, Item, Project, SceneId, ShotField, ShotId, ShotSize};
use previz_jobs::{JobError, JobId, JobKind, JobOutput, JobQueue, JobSpec, JobState, QueueConfig};
use previz_storage::OpenMode;
use previz_studio::settings::StudioSettings;
use previz_studio::{Pane, Studio, StudioApp};

/// The window size the app is designed for (main.rs opens it at this size).
const WINDOW: egui::Vec2 = egui::vec2(1600.0, 900.0);
/// Long enough for a debug build on a busy 2-core machine; a stuck job fails, it does not hang.
const JOB_DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Fixture

const PROJECT_FOLDER: &str = "short-action.previz";

/// A studio with a project created from `short-action.fountain` the way File → New project
/// from screenplay creates one: a job that parses, builds the rough cut (a master shot per
/// scene, a storyboard track, dialogue tracks) and saves, then delivered to the studio.
struct Sample {
    studio: Studio,
    /// Holds the screenplay and the project folder (fields drop in order: this one last).
    dir: tempfile::TempDir,
}

impl Sample {
    fn project_dir(&self) -> PathBuf {
        self.dir.path().join(PROJECT_FOLDER)
    }
}

fn sample() -> Sample {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let script = dir.path().join("short-action.fountain");
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/screenplays/short-action.fountain");
    std::fs::copy(&source, &script).expect("copy the sample screenplay");
    let mut studio = Studio::new(
        JobQueue::new(QueueConfig::default()),
        StudioSettings::default(),
    );
    studio.new_project_from_screenplay(script, dir.path().join(PROJECT_FOLDER));
    studio.settle(JOB_DEADLINE);
    assert!(
        studio.project.is_some(),
        "the import opened no project; notifications: {:?}",
        studio.toasts.log
    );
    Sample { studio, dir }
}

/// The whole window, as main.rs shows it. `None` settings path: tests never write the user's
/// settings file.
fn window(studio: Studio) -> Harness<'static, StudioApp> {
    Harness::builder()
        .with_size(WINDOW)
        .with_pixels_per_point(1.0)
        .with_theme(egui::Theme::Dark)
        .build_ui_state(
            |ui, app: &mut StudioApp| app.frame_ui(ui),
            StudioApp::new(studio, None),
        )
}

fn doc<'h>(h: &'h Harness<'_, StudioApp>) -> &'h Project {
    h.state().studio.doc().expect("a project is open")
}

fn scene_ids(doc: &Project) -> Vec<SceneId> {
    doc.script.scenes.iter().map(|s| s.id).collect()
}

/// The navigator's entry for the `index`th scene: "2  INT. DELIVERY VAN - CONTINUOUS".
fn scene_label(doc: &Project, index: usize) -> String {
    let scene = &doc.script.scenes[index];
    let number = doc.script.display_numbers()[index]
        .clone()
        .expect("the sample's scenes are numbered");
    format!("{number}  {}", scene.heading.text)
}

/// The storyboard track's clips.
fn storyboard_clips(doc: &Project) -> usize {
    let track = doc
        .timeline
        .tracks
        .iter()
        .find(|t| t.name == "Storyboard")
        .expect("the rough cut made a storyboard track");
    track
        .items
        .iter()
        .filter(|i| matches!(i, Item::Clip(_)))
        .count()
}

/// The left-most widget with this label. A scene heading shows twice, in the scene navigator
/// and on the script page (the navigator is on the left); an action line shows on the page and
/// as a storyboard card's caption (the page is on the left).
/// The top-most node with this label: the tab, not a timeline track of the same name.
fn topmost<'h>(h: &'h Harness<'_, StudioApp>, label: &'h str) -> Node<'h> {
    h.query_all_by_label(label)
        .min_by(|a, b| a.rect().top().total_cmp(&b.rect().top()))
        .unwrap_or_else(|| panic!("nothing labelled {label:?}"))
}

fn leftmost<'h>(h: &'h Harness<'_, StudioApp>, label: &'h str) -> Node<'h> {
    h.query_all_by_label(label)
        .min_by(|a, b| a.rect().left().total_cmp(&b.rect().left()))
        .unwrap_or_else(|| panic!("nothing labelled {label:?}"))
}

/// The shot table is wider than the Shots tab in the default layout: scrolls it sideways with
/// the mouse wheel, as a person would, until `field` is clear of the next panel (a click on a
/// field drawn past the tab's edge would land on the storyboard instead).
fn scroll_shot_table_to(h: &mut Harness<'_, StudioApp>, field: &str) {
    let edge = topmost(h, "Storyboard").rect().left();
    let over_table = egui::pos2(
        h.get_by_label("Shots").rect().left() + 40.0,
        h.get_by_label(field).rect().center().y,
    );
    for _ in 0..20 {
        if h.get_by_label(field).rect().right() < edge {
            return;
        }
        h.hover_at(over_table);
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(-100.0, 0.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: Modifiers::NONE,
        });
        h.run();
    }
    panic!("scrolling the shot table did not bring {field:?} into view");
}

fn click_menu_item(h: &mut Harness<'_, StudioApp>, menu: &str, item: &str) {
    h.get_by_label(menu).click();
    h.run();
    h.get_by_label(item).click();
    h.run();
}

/// Steps frames until `done` holds, failing after `JOB_DEADLINE`. For waits on job threads,
/// where `Harness::run` would not settle (the app repaints while a job runs).
fn step_until(
    h: &mut Harness<'_, StudioApp>,
    what: &str,
    mut done: impl FnMut(&Harness<'_, StudioApp>) -> bool,
) {
    let deadline = Instant::now() + JOB_DEADLINE;
    while !done(h) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; jobs: {:#?}",
            h.state().studio.jobs.snapshot()
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A job that runs until cancelled (giving up, as failed, after `JOB_DEADLINE`).
fn submit_endless_job(jobs: &JobQueue, name: &str) -> JobId {
    jobs.submit(JobSpec::new(JobKind::Frames, name), |ctx| {
        let started = Instant::now();
        let mut step = 0_u32;
        while started.elapsed() < JOB_DEADLINE {
            ctx.check()?;
            step += 1;
            ctx.progress(0.5, format!("denoising step {step}"));
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(JobError::failed("nobody cancelled this job"))
    })
}

// ---------------------------------------------------------------------------------------------
// Script navigator

#[test]
fn clicking_a_scene_in_the_navigator_selects_it_and_its_shots() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run();
    let scenes = scene_ids(doc(&h));
    assert_eq!(scenes.len(), 4, "short-action.fountain has four scenes");
    assert_eq!(
        scene_label(doc(&h), 0),
        "1  EXT. COASTAL ROAD - NIGHT",
        "the navigator's label for scene 1"
    );

    // The script page wraps inside its tab (a third of the window) rather than running under
    // the storyboard next to it.
    let edge = topmost(&h, "Storyboard").rect().left();
    let action =
        "Rain hammers a narrow road carved into the cliffs. Headlights swing around a bend.";
    let page_text = leftmost(&h, action).rect();
    assert!(
        page_text.right() <= edge,
        "the script's text ends at x = {}, past the tab's edge at {edge}",
        page_text.right()
    );

    for index in [2, 0, 1] {
        let label = scene_label(doc(&h), index);
        leftmost(&h, &label).click();
        h.run();
        let studio = &h.state().studio;
        let expected: BTreeSet<ShotId> = doc(&h)
            .shots_in_scene(scenes[index])
            .map(|s| s.id)
            .collect();
        assert!(!expected.is_empty(), "the rough cut gave {label} a shot");
        assert_eq!(studio.selection.scene, Some(scenes[index]), "{label}");
        assert_eq!(studio.selection.shots, expected, "{label}");
    }

    // The shot list follows: scene 2's shot is there, scene 1's is not.
    h.get_by_label("Shots").click();
    h.run();
    assert!(h.query_by_label("Subject of shot 2.1").is_some());
    assert!(h.query_by_label("Subject of shot 1.1").is_none());
}

// ---------------------------------------------------------------------------------------------
// Shot list

/// Presses at `from`, moves to `to` over several frames, releases there.
fn drag(h: &mut Harness<'_, StudioApp>, from: egui::Pos2, to: egui::Pos2) {
    let button = |pos, pressed| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: Modifiers::NONE,
    };
    h.event(egui::Event::PointerMoved(from));
    h.step();
    h.event(button(from, true));
    h.step();
    for k in 1..=10 {
        h.event(egui::Event::PointerMoved(
            from + (to - from) * (k as f32 / 10.0),
        ));
        h.step();
    }
    h.event(button(to, false));
    h.step();
    h.run();
}

#[test]
fn shots_are_added_reordered_by_dragging_and_removed() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run();
    let first_scene = scene_label(doc(&h), 0);
    leftmost(&h, &first_scene).click();
    h.run();
    h.get_by_label("Shots").click();
    h.run();
    let scene = h
        .state()
        .studio
        .selection
        .scene
        .expect("a scene is selected");
    let order = |h: &Harness<'_, StudioApp>| -> Vec<ShotId> {
        doc(h).shots_in_scene(scene).map(|s| s.id).collect()
    };
    let master = order(&h);
    assert_eq!(
        master.len(),
        1,
        "the rough cut gave the scene one master shot"
    );

    // Add: a second shot after the first, selected.
    h.get_by_label("➕ Add shot").click();
    h.run();
    let added = order(&h);
    assert_eq!(added.len(), 2);
    assert_eq!(added[0], master[0]);
    let new_shot = added[1];
    assert_eq!(h.state().studio.selection.shots, BTreeSet::from([new_shot]));

    // Reorder: drag the new shot's handle onto the first row.
    let handles: Vec<egui::Rect> = h.query_all_by_label("☰").map(|n| n.rect()).collect();
    assert_eq!(handles.len(), 2, "a drag handle per row");
    let (top, bottom) = if handles[0].top() < handles[1].top() {
        (handles[0], handles[1])
    } else {
        (handles[1], handles[0])
    };
    drag(&mut h, bottom.center(), top.center());
    assert_eq!(
        order(&h),
        vec![new_shot, master[0]],
        "the dragged shot is now first"
    );
    assert_eq!(
        h.state().studio.undo_label().as_deref(),
        Some("Reorder shot")
    );

    // Remove the selected (new) shot.
    h.get_by_label("🗑 Remove").click();
    h.run();
    assert_eq!(order(&h), master);
    // Undo brings it back where it was.
    h.event(egui::Event::Key {
        key: Key::Z,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: Modifiers::COMMAND,
    });
    h.run();
    assert_eq!(order(&h), vec![new_shot, master[0]]);
}

#[test]
fn typing_a_subject_is_one_undo_step_and_a_size_comes_from_its_menu() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run();
    h.get_by_label("Shots").click();
    h.run();
    let scene = h
        .state()
        .studio
        .selection
        .scene
        .expect("scene 1 is selected");
    let shot = doc(&h)
        .shots_in_scene(scene)
        .next()
        .expect("scene 1 has a shot")
        .clone();
    assert_eq!(shot.subject, "COASTAL ROAD");
    assert!(
        h.state().studio.undo_label().is_none(),
        "a new project has nothing to undo"
    );

    // Type a new subject, one key at a time, as a person does.
    let field = "Subject of shot 1.1";
    scroll_shot_table_to(&mut h, field);
    h.get_by_label(field).click();
    h.run();
    assert!(
        h.get_by_label(field).is_focused(),
        "a click puts the cursor in the field"
    );
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.run();
    let typed = "VAN ON THE CLIFF ROAD";
    for c in typed.chars() {
        h.get_by_label(field).type_text(&c.to_string());
        h.run();
    }
    assert_eq!(
        doc(&h).shot(shot.id).map(|s| s.subject.as_str()),
        Some(typed)
    );
    assert_eq!(h.get_by_label(field).value().as_deref(), Some(typed));
    h.key_press(Key::Enter); // leaves the field: the end of the typing gesture
    h.run();

    // One Ctrl+Z puts back the whole word, and nothing else was on the stack.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run();
    assert_eq!(
        doc(&h).shot(shot.id).map(|s| s.subject.as_str()),
        Some("COASTAL ROAD")
    );
    assert_eq!(
        h.state().studio.undo_label(),
        None,
        "typing {} characters made more than one undo step",
        typed.len()
    );
    assert_eq!(
        h.get_by_label(field).value().as_deref(),
        Some("COASTAL ROAD")
    );
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run();
    assert_eq!(
        doc(&h).shot(shot.id).map(|s| s.subject.as_str()),
        Some(typed)
    );

    // Size: open the shot's menu and pick "close up".
    assert_eq!(
        shot.size,
        Some(ShotSize::Wide),
        "the rough cut's master shot"
    );
    h.get_by_label("Size of shot 1.1").click();
    h.run();
    h.get_by_label("close up").click();
    h.run();
    let edited = doc(&h).shot(shot.id).expect("the shot").clone();
    assert_eq!(edited.size, Some(ShotSize::CloseUp));
    assert_eq!(
        edited.subject, typed,
        "the size edit left the subject alone"
    );
    assert_eq!(
        h.get_by_label("Size of shot 1.1").value().as_deref(),
        Some("close up")
    );
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run();
    let undone = doc(&h).shot(shot.id).expect("the shot").clone();
    assert_eq!(undone.size, Some(ShotSize::Wide));
    assert_eq!(undone.subject, typed, "one undo takes back one step");
}

// ---------------------------------------------------------------------------------------------
// Timeline edits from the menu and the keyboard

#[test]
fn split_at_playhead_from_the_edit_menu_and_the_s_key_then_undo_and_redo_from_the_menu() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run();
    let clips = storyboard_clips(doc(&h));
    assert_eq!(clips, 4, "the rough cut has a storyboard clip per scene");
    let original = doc(&h).clone();

    // Playhead 10 frames into the first clip (→ ten times).
    for _ in 0..10 {
        h.key_press(Key::ArrowRight);
    }
    h.run();
    assert_eq!(h.state().studio.transport.playhead, 10);

    click_menu_item(&mut h, "Edit", "Split at playhead  (S)");
    assert_eq!(storyboard_clips(doc(&h)), clips + 1);
    let track = &doc(&h).timeline.tracks[0];
    assert_eq!(
        track.items.first().map(Item::duration_frames),
        Some(10),
        "the first clip now ends at the playhead"
    );
    let split = doc(&h).clone();

    click_menu_item(&mut h, "Edit", "Undo Split at playhead");
    assert_eq!(storyboard_clips(doc(&h)), clips);
    assert_eq!(*doc(&h), original, "undo restores the document exactly");

    click_menu_item(&mut h, "Edit", "Redo Split at playhead");
    assert_eq!(storyboard_clips(doc(&h)), clips + 1);
    assert_eq!(*doc(&h), split, "redo makes the same split (same ids)");

    // The S key splits too: five frames later, the second half splits again.
    for _ in 0..5 {
        h.key_press(Key::ArrowRight);
    }
    h.key_press(Key::S);
    h.run();
    assert_eq!(storyboard_clips(doc(&h)), clips + 2);
    assert_eq!(
        doc(&h).timeline.tracks[0]
            .items
            .get(1)
            .map(Item::duration_frames),
        Some(5)
    );
}

// ---------------------------------------------------------------------------------------------
// Playback

#[test]
fn space_plays_and_stops_and_jkl_shuttle() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run();
    assert!(!h.state().studio.transport.is_playing());
    assert_eq!(h.state().studio.transport.playhead, 0);

    // Space: plays at 1×, and the playhead moves with every frame (0.25 s of simulated time each).
    h.key_press(Key::Space);
    h.step();
    h.step();
    assert!(h.state().studio.transport.is_playing());
    assert_eq!(h.state().studio.transport.speed, 1.0);
    let mut last = h.state().studio.transport.playhead;
    for _ in 0..4 {
        h.step();
        let now = h.state().studio.transport.playhead;
        assert!(now > last, "the playhead stood still while playing ({now})");
        last = now;
    }
    assert!(
        h.query_by_label("▶ 1×").is_some(),
        "the status bar shows playback"
    );

    // Space again stops, and the playhead stays put.
    h.key_press(Key::Space);
    h.step();
    h.step();
    assert!(!h.state().studio.transport.is_playing());
    let stopped = h.state().studio.transport.playhead;
    h.run_steps(4);
    assert_eq!(h.state().studio.transport.playhead, stopped);
    assert!(stopped > 0);

    // L plays forward, faster each press; K stops; J plays backward.
    h.key_press(Key::L);
    h.key_press(Key::L);
    h.step();
    assert_eq!(h.state().studio.transport.speed, 2.0);
    let before = h.state().studio.transport.playhead;
    h.run_steps(2);
    let after_l = h.state().studio.transport.playhead;
    assert!(after_l > before, "L L moves forward ({before} → {after_l})");

    h.key_press(Key::K);
    h.step();
    assert!(!h.state().studio.transport.is_playing());
    let after_k = h.state().studio.transport.playhead;
    h.run_steps(3);
    assert_eq!(h.state().studio.transport.playhead, after_k, "K stops");

    h.key_press(Key::J);
    h.step();
    assert_eq!(h.state().studio.transport.speed, -1.0);
    h.run_steps(2);
    let after_j = h.state().studio.transport.playhead;
    assert!(
        after_j < after_k,
        "J moves backward ({after_k} → {after_j})"
    );
    h.key_press(Key::K);
    h.step();
    assert!(!h.state().studio.transport.is_playing());

    // Parked on the last frame (End), Space plays again from the top.
    let end = doc(&h).timeline.duration_frames();
    h.key_press(Key::End);
    h.step();
    h.step();
    assert_eq!(h.state().studio.transport.playhead, end - 1);
    h.key_press(Key::Space);
    h.step();
    h.step();
    let transport = &h.state().studio.transport;
    assert!(transport.is_playing());
    assert!(
        transport.playhead < end / 2,
        "Space at the end restarts from the top (playhead {} of {end})",
        transport.playhead
    );
}

// ---------------------------------------------------------------------------------------------
// Jobs

#[test]
fn the_jobs_panel_cancels_a_running_job() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run();
    let id = submit_endless_job(&h.state().studio.jobs, "Frames for scene 2");
    step_until(&mut h, "the job to start", |h| {
        h.state()
            .studio
            .jobs
            .job(id)
            .is_some_and(|j| j.state == JobState::Running)
    });

    h.get_by_label("Jobs").click();
    h.run_steps(2);
    assert!(h.query_by_label("Frames for scene 2").is_some());
    // The import that made the project is finished: its row has no Cancel button, ours does.
    assert_eq!(h.query_all_by_label("Cancel").count(), 1);
    h.get_by_label("Cancel").click();
    step_until(&mut h, "the job to end", |h| {
        h.state()
            .studio
            .jobs
            .job(id)
            .is_some_and(|j| j.state.is_finished())
    });
    assert_eq!(
        h.state().studio.jobs.job(id).map(|j| j.state),
        Some(JobState::Cancelled)
    );
    h.run_steps(2);
    assert!(h.query_by_label("Cancel").is_none());
    assert!(
        h.state()
            .studio
            .toasts
            .log
            .iter()
            .any(|t| t.title == "Frames for scene 2 was cancelled"),
        "the studio says the job was cancelled"
    );
}

#[test]
fn a_long_job_does_not_stall_frames_and_its_result_is_one_undo_step() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run();
    let before = doc(&h).clone();
    // What a script breakdown would return: a subject for every shot, and a new cut name.
    let mut commands: Vec<EditCommand> = before
        .shots
        .iter()
        .enumerate()
        .map(|(i, shot)| EditCommand::EditShot {
            shot: shot.id,
            field: ShotField::Subject(format!("subject from the breakdown {}", i + 1)),
        })
        .collect();
    commands.push(EditCommand::RenameTimeline {
        name: "Breakdown cut".to_owned(),
    });
    let edits = commands.len();

    // The job keeps a worker fully busy until the UI has drawn 20 frames while it runs. If a
    // frame waited for the job, those frames could never be drawn: the job would give up at its
    // hang guard and the test fail. No frame time is measured or asserted.
    let name = "Breakdown of the script";
    let release = Arc::new(AtomicBool::new(false));
    let released = Arc::clone(&release);
    let id = h
        .state()
        .studio
        .jobs
        .submit(JobSpec::new(JobKind::Breakdown, name), move |ctx| {
            let guard = Instant::now();
            let mut spins = 0u64;
            while !released.load(Ordering::Acquire) {
                ctx.check()?;
                if guard.elapsed() > JOB_DEADLINE {
                    return Err(JobError::failed(
                        "the UI never drew 20 frames while this job ran",
                    ));
                }
                spins += 1;
                ctx.progress((spins % 1000) as f32 / 1000.0, "reading the script");
                std::hint::black_box((0..10_000_u64).sum::<u64>());
            }
            Ok(JobOutput::new(format!("{edits} edits")).with_commands(commands))
        });

    let mut frames_while_running = 0_u32;
    let mut saw_running_in_status_bar = false;
    while h.state().studio.undo_label().as_deref() != Some(name) {
        let job = h.state().studio.jobs.job(id);
        if let Some(JobState::Failed { message, .. }) = job.as_ref().map(|j| j.state.clone()) {
            panic!("the job failed: {message}");
        }
        let running = job.is_some_and(|j| j.state == JobState::Running);
        h.step();
        if running {
            frames_while_running += 1;
            saw_running_in_status_bar |= h.query_by_label("1 running, 0 queued").is_some();
            if frames_while_running == 20 {
                release.store(true, Ordering::Release);
            }
        }
    }
    assert!(
        frames_while_running >= 20,
        "{frames_while_running} frames while the job ran"
    );
    assert!(
        saw_running_in_status_bar,
        "the status bar showed the running job"
    );

    // Every edit landed...
    let after = doc(&h).clone();
    assert_eq!(after.timeline.name, "Breakdown cut");
    for (i, shot) in after.shots.iter().enumerate() {
        assert_eq!(
            shot.subject,
            format!("subject from the breakdown {}", i + 1)
        );
    }
    // ...as one step named after the job, which one Ctrl+Z takes back whole.
    h.run_steps(2);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert_eq!(*doc(&h), before, "one undo removed every edit of the job");
    assert_eq!(h.state().studio.undo_label(), None);
    assert_eq!(h.state().studio.redo_label().as_deref(), Some(name));
}

/// The real breakdown from the Generate menu (the built-in rules: no model chosen): the rough
/// cut's masters become coverage, every speech is covered, and one Ctrl+Z takes it all back.
#[test]
fn break_down_from_the_generate_menu_lands_shots_as_one_undo_step() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run();
    let before = doc(&h).clone();
    let masters = before.shots.len();
    // The job starts at once and the jobs panel repaints while it runs: no settling here.
    h.get_by_label("Generate").click();
    h.run();
    h.get_by_label("Break down script into shots").click();
    h.run_steps(2);
    let name = "Break down the script (rules)";
    step_until(&mut h, "the breakdown to land", |h| {
        h.state().studio.undo_label().as_deref() == Some(name)
    });
    let after = doc(&h).clone();
    assert!(after.shots.len() > masters, "{} shots", after.shots.len());
    assert!(
        after
            .shots
            .iter()
            .all(|s| s.extra.contains_key("breakdown")),
        "every shot carries its provenance"
    );
    for scene in &after.script.scenes {
        for d in scene.dialogue() {
            assert!(
                after.shots.iter().any(|s| s.dialogue.contains(&d.id)),
                "{} is covered",
                d.cue
            );
        }
    }
    h.run_steps(2);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert_eq!(*doc(&h), before, "one undo took the breakdown back");
}

// ---------------------------------------------------------------------------------------------
// Read-only

#[test]
fn a_read_only_project_says_so_and_refuses_edits() {
    let mut sample = sample();
    let dir = sample.project_dir();
    sample.studio.close_project();
    sample.studio.open_project(dir, OpenMode::ReadOnly);
    sample.studio.settle(JOB_DEADLINE);
    assert!(sample.studio.read_only(), "opened read-only");
    let mut h = window(sample.studio);
    h.run();
    let before = doc(&h).clone();
    let revision = h.state().studio.revision;
    assert!(
        h.query_by_label("Read-only").is_some(),
        "the status bar says Read-only"
    );

    // Split from the keyboard and from the menu.
    for _ in 0..10 {
        h.key_press(Key::ArrowRight);
    }
    h.key_press(Key::S);
    h.run();
    click_menu_item(&mut h, "Edit", "Split at playhead  (S)");
    assert_eq!(
        h.state()
            .studio
            .toasts
            .last_error()
            .map(|t| t.title.as_str()),
        Some("The edit was not made")
    );

    // Type into a shot's subject: the table is disabled.
    h.get_by_label("Shots").click();
    h.run();
    h.get_by_label("Subject of shot 1.1").click();
    h.run();
    h.get_by_label("Subject of shot 1.1").type_text("X");
    h.run();

    assert_eq!(*doc(&h), before, "a read-only project did not change");
    assert_eq!(h.state().studio.revision, revision);
    assert_eq!(h.state().studio.undo_label(), None);
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/// Creating the wgpu device is where a machine with no usable adapter fails. It runs on a
/// helper thread with a deadline, so such a machine fails with a message saying what to
/// install, instead of a panic deep inside wgpu, or a wait that never ends.
fn snapshot_renderer() -> WgpuTestRenderer {
    const SETUP_DEADLINE: Duration = Duration::from_secs(120);
    const HELP: &str = "the panel snapshots render with wgpu and found no usable adapter. On a \
        machine without a GPU install Mesa's Vulkan drivers (lavapipe), e.g. `apt-get install \
        mesa-vulkan-drivers libvulkan1` (scripts/test.sh does)";
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("wgpu-setup".to_owned())
        .spawn(move || {
            let _ = sender.send(std::panic::catch_unwind(WgpuTestRenderer::new));
        })
        .expect("spawn a thread");
    match receiver.recv_timeout(SETUP_DEADLINE) {
        Ok(Ok(renderer)) => renderer,
        Ok(Err(panic)) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("{HELP}. wgpu said: {why}")
        }
        Err(_) => panic!("{HELP}. Creating the wgpu device took longer than {SETUP_DEADLINE:?}"),
    }
}

/// One panel alone at a fixed size: each image changes only when its panel does.
#[test]
fn panel_snapshots() {
    let mut sample = sample();
    let studio = &mut sample.studio;
    // The jobs panel: finished jobs with fixed names (the import's name holds the temporary
    // folder, so it goes), one of each ending; finished rows show no elapsed time.
    studio.jobs.clear_finished();
    studio.jobs.submit(
        JobSpec::new(JobKind::Export, "Export animatic.mp4"),
        |ctx| {
            ctx.log("encoding 412 frames");
            ctx.log("wrote animatic.mp4");
            Ok(JobOutput::new("412 frames"))
        },
    );
    studio.jobs.submit(
        JobSpec::new(JobKind::Voices, "Voices for scene 2"),
        |_ctx| Err(JobError::failed("no voice model is chosen")),
    );
    let cancelled = submit_endless_job(&studio.jobs, "Frames for scene 3");
    studio.jobs.cancel(cancelled);
    assert!(studio.jobs.wait_idle(JOB_DEADLINE), "the jobs ended");
    assert!(studio.jobs.snapshot().iter().all(|j| j.state.is_finished()));

    let first_shot = studio.doc().expect("a project").shots[0].id;
    let mut app = StudioApp::new(sample.studio, None);
    app.views.shots.all_scenes = true;

    let mut h = Harness::builder()
        .with_size(WINDOW)
        .with_pixels_per_point(1.0)
        .with_theme(egui::Theme::Dark)
        .renderer(snapshot_renderer())
        .build_ui_state(
            |ui, (app, pane): &mut (StudioApp, Pane)| {
                egui::CentralPanel::default().show(ui, |ui| app.pane_ui(ui, *pane));
            },
            (app, Pane::Script),
        );

    let panes = [
        (Pane::Script, "script", egui::vec2(900.0, 560.0)),
        (Pane::Shots, "shots", egui::vec2(1300.0, 200.0)),
        (Pane::Storyboard, "storyboard", egui::vec2(960.0, 520.0)),
        (Pane::Viewer, "viewer", egui::vec2(800.0, 480.0)),
        (Pane::Timeline, "timeline", egui::vec2(1300.0, 260.0)),
        (Pane::Jobs, "jobs", egui::vec2(800.0, 320.0)),
    ];
    let mut failures = Vec::new();
    for (pane, name, size) in panes {
        {
            let (app, shown) = h.state_mut();
            *shown = pane;
            let studio = &mut app.studio;
            match pane {
                // The storyboard shows every scene's cards, with shot 1.1 selected.
                Pane::Storyboard => {
                    studio.selection.scene = None;
                    studio.selection.shots = BTreeSet::from([first_shot]);
                }
                _ => studio.select_shot(first_shot),
            }
            // Over a second into shot 1.1: the viewer's frame counter and the timeline's
            // playhead have something to show.
            studio.transport.seek(30, 0.0);
        }
        h.set_size(size);
        h.run();
        if let Err(e) = h.try_snapshot(name) {
            failures.push(e.to_string());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn voices_from_the_generate_menu_land_takes_and_retime_as_one_undo_step() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run();
    let before = doc(&h).clone();
    // The job starts at once and the jobs panel repaints while it runs: no settling here.
    h.get_by_label("Generate").click();
    h.run();
    h.get_by_label("Voices for all dialogue").click();
    h.run_steps(2);
    step_until(&mut h, "the voices to land", |h| {
        h.state()
            .studio
            .undo_label()
            .is_some_and(|l| l.starts_with("Voice the dialogue"))
    });
    let after = doc(&h).clone();
    let lines: usize = after
        .script
        .scenes
        .iter()
        .map(|s| s.dialogue().count())
        .sum();
    assert!(lines > 0);
    assert_eq!(after.voices.len(), lines, "a take for every line");
    assert!(after.validate().is_empty(), "{:?}", after.validate());
    h.run_steps(2);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert_eq!(*doc(&h), before, "one undo took the voices back");
}

/// Generate › Storyboard frames with no diffusion model installed: every shot gets a sketch
/// take (a PNG in the project's store, provenance "sketch"), as one undo step.
#[test]
fn storyboard_frames_from_the_generate_menu_give_every_shot_a_take_as_one_undo_step() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run();
    let before = doc(&h).clone();
    assert!(!before.shots.is_empty());
    h.get_by_label("Generate").click();
    h.run();
    h.get_by_label("Storyboard frames for all shots").click();
    h.run_steps(2);
    step_until(&mut h, "the frames to land", |h| {
        h.state()
            .studio
            .undo_label()
            .is_some_and(|l| l.starts_with("Frames for"))
    });
    let after = doc(&h).clone();
    for shot in &after.shots {
        let take = shot.active().expect("a take per shot");
        assert_eq!(take.provenance.generator, "sketch");
        assert_eq!(after.assets[&take.asset].media.mime, "image/png");
    }
    assert!(after.validate().is_empty(), "{:?}", after.validate());
    h.run_steps(2);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert_eq!(*doc(&h), before, "one undo took the frames back");
}

/// With a diffusion model chosen in Settings, the frames job draws every shot through it and
/// the job panel shows each denoising step's preview (the job keeps the last one).
#[test]
fn diffusion_frames_show_their_denoising_previews_in_the_job_panel() {
    let mut sample = sample();
    let model = sample.dir.path().join("tiny-sd");
    previz_models::diffusion::tiny::write_tiny_model(
        &model,
        &previz_models::diffusion::tiny::TinySpec::default(),
    )
    .unwrap();
    sample.studio.settings.diffusion_model = Some(model.display().to_string());
    let mut h = window(sample.studio);
    h.run();
    h.get_by_label("Generate").click();
    h.run();
    h.get_by_label("Storyboard frames for all shots").click();
    h.run_steps(2);
    step_until(&mut h, "the frames to land", |h| {
        h.state()
            .studio
            .undo_label()
            .is_some_and(|l| l.starts_with("Frames for"))
    });
    let shots = doc(&h).shots.len();
    for shot in &doc(&h).shots {
        let take = shot.active().expect("a take per shot");
        assert_eq!(take.provenance.generator, "diffusion");
        assert_eq!(take.provenance.model_id.as_deref(), Some("tiny-sd"));
    }
    let job = h
        .state()
        .studio
        .jobs
        .snapshot()
        .into_iter()
        .find(|j| j.kind == JobKind::Frames)
        .expect("the frames job");
    let preview = job.preview.expect("the job reported previews");
    assert!(
        preview.serial as usize >= shots,
        "{} previews for {shots} shots",
        preview.serial
    );
    assert_eq!(
        preview.rgb.len(),
        (preview.width * preview.height * 3) as usize
    );
    topmost(&h, "Jobs").click();
    h.run_steps(3);
    let _ = h.get_by_label("preview of the frame being drawn");
}

/// The Cast panel's look row: typing a LoRA file sets the character's look (one undo step for
/// the whole word); its strength and trigger words appear once there is one.
#[test]
fn the_cast_panel_sets_a_characters_look_as_one_undo_step() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run_steps(1);
    topmost(&h, "Cast").click();
    h.run_steps(2);
    step_until(&mut h, "the voices to be found", |h| {
        h.state().studio.cast.catalogue.is_some()
    });
    let (character, name) = {
        let c = &doc(&h).script.characters[0];
        (c.id, c.name.clone())
    };
    let field = format!("Look LoRA of {name}");
    h.get_by_label(&field).click();
    h.run_steps(1);
    let typed = "mara.safetensors";
    for c in typed.chars() {
        h.get_by_label(&field).type_text(&c.to_string());
        h.run_steps(1);
    }
    h.key_press(Key::Enter);
    h.run_steps(2);
    let look = doc(&h).script.character(character).unwrap().look.clone();
    assert_eq!(look.as_ref().map(|l| l.lora.as_str()), Some(typed));
    assert_eq!(look.map(|l| l.scale_percent), Some(100));
    assert!(
        h.query_by_label(&format!("Look strength of {name}"))
            .is_some()
    );
    assert!(
        h.query_by_label(&format!("Look trigger words of {name}"))
            .is_some()
    );
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert_eq!(
        doc(&h).script.character(character).unwrap().look,
        None,
        "one undo takes the whole file name back"
    );

    // A reference picture alone is a look too (shown through the IP-Adapter); its strength
    // appears once there is one.
    let field = format!("Reference picture of {name}");
    h.get_by_label(&field).click();
    h.run_steps(1);
    let typed = "looks/mara.png";
    for c in typed.chars() {
        h.get_by_label(&field).type_text(&c.to_string());
        h.run_steps(1);
    }
    h.key_press(Key::Enter);
    h.run_steps(2);
    let look = doc(&h)
        .script
        .character(character)
        .unwrap()
        .look
        .clone()
        .unwrap();
    assert_eq!(
        (
            look.lora.as_str(),
            look.reference.as_str(),
            look.reference_percent
        ),
        ("", typed, 60)
    );
    assert!(
        h.query_by_label(&format!("Reference strength of {name}"))
            .is_some()
    );
    assert!(
        h.query_by_label(&format!("Look strength of {name}"))
            .is_none(),
        "no LoRA, no LoRA strength"
    );
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert_eq!(doc(&h).script.character(character).unwrap().look, None);
}

/// The Cast panel: the voices this machine has are found in the background; choosing one
/// for a character is one undo step in the character bible; "Preview" speaks the character's
/// first line as cast (played when there is an audio device, said why when not) and changes
/// nothing in the project.
#[test]
fn the_cast_panel_casts_a_voice_and_previews_it_without_touching_the_project() {
    let sample = sample();
    let mut h = window(sample.studio);
    h.run();
    topmost(&h, "Cast").click();
    h.run_steps(2);
    step_until(&mut h, "the voices to be found", |h| {
        h.state().studio.cast.catalogue.is_some()
    });
    h.run_steps(2);
    let (character, name) = {
        let d = doc(&h);
        let c = d
            .script
            .characters
            .iter()
            .find(|c| {
                d.script
                    .scenes
                    .iter()
                    .any(|s| s.dialogue().any(|l| l.character == Some(c.id)))
            })
            .expect("the sample has a speaking character");
        (c.id, c.name.clone())
    };
    let catalogue = h.state().studio.cast.catalogue.clone().unwrap();
    let chosen = catalogue
        .find("espeak:en-gb")
        .or_else(|| catalogue.find("silent"))
        .unwrap()
        .clone();

    let original = doc(&h).script.character(character).unwrap().voice.clone();
    h.get_by_label(&format!("Voice of {name}")).click();
    h.run();
    h.get_by_label(&chosen.label).click();
    h.run();
    let cast = doc(&h).script.character(character).unwrap().voice.clone();
    assert_eq!(
        cast.as_ref().map(|c| c.voice.as_str()),
        Some(chosen.id.as_str())
    );
    assert_eq!(
        h.state().studio.undo_label().as_deref(),
        Some("Edit character voice")
    );
    if chosen.id.starts_with("espeak:") {
        assert!(h.query_by_label(&format!("Variant of {name}")).is_some());
    }
    assert!(h.query_by_label(&format!("Speed of {name}")).is_some());
    assert!(h.query_by_label(&format!("Pitch of {name}")).is_some());

    let before = doc(&h).clone();
    h.get_by_label(&format!("Preview {name}")).click();
    h.run_steps(2);
    step_until(&mut h, "the preview to be heard", |h| {
        h.state().studio.cast.heard.is_some() || h.state().studio.cast.failed.is_some()
    });
    assert_eq!(h.state().studio.cast.failed, None);
    let heard = h.state().studio.cast.heard.clone().unwrap();
    assert_eq!(heard.character, character);
    assert!(heard.seconds > 0.5, "{heard:?}");
    assert!(
        heard
            .voice
            .starts_with(chosen.id.split(':').next().unwrap()),
        "{heard:?}"
    );
    assert_eq!(*doc(&h), before, "a preview changes nothing");
    h.run_steps(2);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert_eq!(
        doc(&h).script.character(character).unwrap().voice,
        original,
        "one undo takes the casting back"
    );
}

/// File → Export… opens the dialog with a path next to the project; choosing the storyboard
/// PDF and pressing Export runs a job whose file lands, and the toast says what it wrote.
#[test]
fn the_export_dialog_writes_a_storyboard_pdf_as_a_job() {
    let sample = sample();
    let expected = sample.dir.path().join("short-action.pdf");
    let mut h = window(sample.studio);
    h.run();
    click_menu_item(&mut h, "File", "Export…  (Ctrl+E)");
    h.run_steps(2);
    h.get_by_label("Format").click();
    h.run();
    h.get_by_label("Storyboard PDF (.pdf)").click();
    h.run_steps(2);
    h.get_by_label("Start export").click();
    h.run_steps(2);
    step_until(&mut h, "the PDF export", |h| {
        h.state()
            .studio
            .toasts
            .log
            .iter()
            .any(|t| t.title.contains("Wrote") || t.title.contains("failed"))
    });
    let log = h
        .state()
        .studio
        .toasts
        .log
        .iter()
        .map(|t| format!("{} {}", t.title, t.detail))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(log.contains("pages"), "{log}");
    let bytes =
        std::fs::read(&expected).unwrap_or_else(|e| panic!("{}: {e}; {log}", expected.display()));
    assert!(bytes.starts_with(b"%PDF-"));
}

/// File → Conform to editorial cut: an OTIO exported by the studio, edited (a shot removed,
/// one trimmed), conforms the timeline as one undo step.
#[test]
fn conforming_to_an_edited_otio_is_one_undo_step() {
    let mut sample = sample();
    let otio = sample.dir.path().join("cut.otio");
    sample
        .studio
        .export(previz_render::export::ExportRequest::new(
            previz_render::export::ExportFormat::Otio,
            &otio,
        ));
    sample.studio.settle(JOB_DEADLINE);
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&otio).expect("the OTIO was written")).unwrap();
    let before = sample.studio.doc().unwrap().clone();
    let clips_before = storyboard_clips(&before);
    assert!(clips_before >= 2, "the sample has shots to edit");
    {
        let video = value["tracks"]["children"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|t| t["kind"] == "Video")
            .unwrap();
        let children = video["children"].as_array_mut().unwrap();
        let first_clip = children
            .iter()
            .position(|c| c["OTIO_SCHEMA"] == "Clip.2")
            .unwrap();
        children.remove(first_clip);
        let next = children
            .iter_mut()
            .find(|c| c["OTIO_SCHEMA"] == "Clip.2")
            .unwrap();
        let d = next["source_range"]["duration"]["value"].as_f64().unwrap();
        next["source_range"]["duration"]["value"] = serde_json::json!(d - 6.0);
    }
    let edited = sample.dir.path().join("edited.otio");
    std::fs::write(&edited, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    sample.studio.conform_cut(edited);
    sample.studio.settle(JOB_DEADLINE);
    let after = sample.studio.doc().unwrap().clone();
    assert_eq!(
        storyboard_clips(&after),
        clips_before - 1,
        "{:?}",
        sample.studio.toasts.log
    );
    assert!(after.validate().is_empty(), "{:?}", after.validate());
    assert!(
        sample
            .studio
            .undo_label()
            .is_some_and(|l| l.starts_with("Conform"))
    );
    sample.studio.undo();
    assert_eq!(sample.studio.doc().unwrap().timeline, before.timeline);
}

// ---------------------------------------------------------------------------------------------
// Many editors on one project

/// Another editor on the same project, on another "workstation" (its own journal folder).
fn other_editor(dir: &Path, journal: &Path) -> previz_storage::Session {
    let options = previz_storage::SessionOptions {
        shared: previz_storage::SharedOptions {
            journal_dir: Some(journal.to_path_buf()),
            ..previz_storage::SharedOptions::default()
        },
        lease_refresh: Duration::ZERO,
        ..previz_storage::SessionOptions::default()
    };
    let (session, _) = previz_storage::Session::open_with(dir, OpenMode::ReadWrite, options)
        .expect("the other editor opens the shared project");
    assert!(session.is_shared());
    session
}

#[test]
fn a_shared_project_shows_who_holds_which_scene_and_lets_the_editor_choose_in_a_conflict() {
    let mut sample = sample();
    let dir = sample.project_dir();
    sample.studio.close_project();
    previz_storage::Session::share(&dir).expect("share the project");

    // Ben works on scene 2 (and holds its lease) before the studio opens the project.
    let mut ben = other_editor(&dir, &sample.dir.path().join("ben-journal"));
    let scenes = scene_ids(ben.project());
    let ben_shot = ben
        .project()
        .shots_in_scene(scenes[1])
        .next()
        .expect("scene 2 has a shot")
        .id;
    ben.apply(&EditCommand::EditShot {
        shot: ben_shot,
        field: ShotField::Notes("Ben's notes".into()),
    })
    .unwrap();
    ben.tick(jiff::Timestamp::now()).unwrap();
    ben.save().unwrap();

    sample.studio.open_project(dir.clone(), OpenMode::ReadWrite);
    sample.studio.settle(JOB_DEADLINE);
    assert!(
        sample.studio.project.as_ref().unwrap().session.is_shared(),
        "{:?}",
        sample.studio.toasts.log
    );
    let mut h = window(sample.studio);
    h.run();
    let user = previz_storage::LockInfo::for_this_process("test", jiff::Timestamp::now()).user;
    let pier = format!("{}   🔒 {user}", scene_label(doc(&h), 1));
    assert!(
        h.query_by_label(&pier).is_some(),
        "the navigator shows Ben's lease on scene 2 ({pier:?})"
    );
    assert!(
        h.query_by_label_contains("Shared · 1 other editor working")
            .is_some(),
        "the status bar says the project is shared"
    );

    // Ben changes shot 1.1's subject and saves after the studio read the project.
    let shot = doc(&h).shots_in_scene(scenes[0]).next().unwrap().id;
    ben.apply(&EditCommand::EditShot {
        shot,
        field: ShotField::Subject("BEN'S ROAD".into()),
    })
    .unwrap();
    ben.save().unwrap();

    // The studio's editor types into the same subject: it holds scene 1 from the next tick.
    h.get_by_label("Shots").click();
    h.run();
    let field = "Subject of shot 1.1";
    scroll_shot_table_to(&mut h, field);
    h.get_by_label(field).click();
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.run();
    h.get_by_label(field).type_text("MINE");
    h.run();
    h.key_press(Key::Enter);
    h.run();
    let held = h
        .state()
        .studio
        .project
        .as_ref()
        .unwrap()
        .session
        .shared()
        .unwrap()
        .held_scenes();
    assert_eq!(held, vec![scenes[0]], "the studio took scene 1's lease");
    h.get_by_label("Script").click();
    h.run();
    let mine = format!("{}   (yours)", scene_label(doc(&h), 0));
    assert!(
        h.query_by_label(&mine).is_some(),
        "the navigator shows the lease the studio took on scene 1"
    );

    // Editing Ben's scene is refused, and says who has it.
    assert!(!h.state_mut().studio.apply(&EditCommand::EditShot {
        shot: ben_shot,
        field: ShotField::Notes("studio notes".into()),
    }));
    let refused = h.state().studio.toasts.last_error().unwrap().detail.clone();
    assert!(refused.contains("being worked on by"), "{refused}");

    // Save: Ben's scene-2 work merges in, the subject conflicts.
    h.key_press_modifiers(Modifiers::COMMAND, Key::S);
    step_until(&mut h, "the save", |h| h.state().studio.saving.is_none());
    step_until(&mut h, "the conflicts window", |h| {
        h.query_by_label("Yours: MINE").is_some()
    });
    assert_eq!(
        h.state().studio.conflicts.len(),
        1,
        "{:?}",
        h.state().studio.toasts.log
    );
    assert_eq!(doc(&h).shot(shot).unwrap().subject, "BEN'S ROAD");
    assert_eq!(doc(&h).shot(ben_shot).unwrap().notes, "Ben's notes");
    assert!(h.query_by_label("Yours: MINE").is_some());
    assert!(h.query_by_label("Kept (theirs): BEN'S ROAD").is_some());

    // Use mine: an ordinary, undoable edit; saved, it wins; the record is marked dealt with.
    h.get_by_label("Use mine").click();
    // It starts a job (the record moved aside), whose spinner repaints: step, do not settle.
    h.run_steps(3);
    assert_eq!(doc(&h).shot(shot).unwrap().subject, "MINE");
    assert!(h.state().studio.conflicts.is_empty());
    h.key_press_modifiers(Modifiers::COMMAND, Key::S);
    step_until(&mut h, "the second save", |h| {
        h.state().studio.saving.is_none() && {
            let s = h.state().studio.jobs.stats();
            s.running + s.queued == 0
        }
    });
    h.run_steps(3);
    let stored = previz_storage::Session::open(&dir, OpenMode::ReadOnly)
        .unwrap()
        .0;
    assert_eq!(stored.project().shot(shot).unwrap().subject, "MINE");
    assert_eq!(
        stored.project().shot(ben_shot).unwrap().notes,
        "Ben's notes"
    );
    let resolved = std::fs::read_dir(dir.join("conflicts-resolved"))
        .map(Iterator::count)
        .unwrap_or(0);
    assert_eq!(
        resolved, 1,
        "the conflict record moved to conflicts-resolved/"
    );
    ben.close().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Plugins

/// A menu item clicked while notifications are up (they repaint on a timer, so the harness
/// steps a few frames instead of waiting to settle).
fn click_menu_steps(h: &mut Harness<'_, StudioApp>, menu: &str, item: &str) {
    h.get_by_label(menu).click();
    h.run_steps(3);
    h.get_by_label(item).click();
    h.run_steps(3);
}

#[test]
fn the_scripts_menu_runs_the_example_plugins_each_as_one_undo_step() {
    let sample = sample();
    let dir = sample.project_dir();
    let mut h = window(sample.studio);
    h.run();
    let names: Vec<String> = h
        .state()
        .studio
        .plugins
        .iter()
        .map(|p| p.name.clone())
        .collect();
    for shipped in ["ad-csv", "house-style", "shot-numbering"] {
        assert!(names.iter().any(|n| n == shipped), "{names:?}");
    }

    // The numbering convention: every shot gets a locked 1A-style number.
    click_menu_steps(&mut h, "Scripts", "shot-numbering");
    step_until(&mut h, "the numbering plugin", |h| {
        doc(h).shots.iter().all(|s| s.label.is_some())
    });
    let first = doc(&h).shots[0].label.clone().unwrap();
    assert!(first.ends_with('A') && first.len() >= 2, "{first}");
    assert_eq!(
        h.state().studio.undo_label().as_deref(),
        Some("Plugin shot-numbering")
    );

    // The house style: a preset becomes the project's style; the template rewrites prompts.
    click_menu_steps(&mut h, "Scripts", "Style: House pencil");
    match &doc(&h).settings.style {
        previz_core::Style::Custom(text) => assert!(text.contains("pencil"), "{text}"),
        other => panic!("the preset did not land: {other:?}"),
    }
    let before: Vec<String> = doc(&h).shots.iter().map(|s| s.prompt.clone()).collect();
    click_menu_steps(&mut h, "Scripts", "house-style");
    step_until(&mut h, "the prompt template", |h| {
        doc(h)
            .shots
            .iter()
            .map(|s| s.prompt.clone())
            .collect::<Vec<_>>()
            != before
    });
    h.run();
    assert_eq!(
        h.state().studio.undo_label().as_deref(),
        Some("Plugin house-style")
    );

    // The AD's CSV lands in the project's exports folder and changes nothing else.
    let revision = doc(&h).clone();
    click_menu_steps(&mut h, "Scripts", "ad-csv");
    let csv = dir.join("exports/ad-csv/shot-list.csv");
    step_until(&mut h, "the CSV exporter", |_| csv.is_file());
    step_until(&mut h, "the exporter's job to end", |h| {
        let s = h.state().studio.jobs.stats();
        s.running + s.queued == 0
    });
    h.run_steps(3);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("Scene,Heading,Shot,"), "{text}");
    assert_eq!(text.lines().count(), doc(&h).shots.len() + 1);
    assert!(
        text.contains(&first),
        "the numbers the plugin locked: {text}"
    );
    assert_eq!(*doc(&h), revision);

    // A macro's queued export is written where the CLI writes it, by an export job.
    let macro_file = dir.parent().unwrap().join("editorial.rhai");
    std::fs::write(
        &macro_file,
        "fn run() {\n    queue_job(\"export\", #{ format: \"otio\" });\n}\n",
    )
    .unwrap();
    let plugin = previz_script::Host::default().load(&macro_file).unwrap();
    h.state_mut().studio.run_plugin(plugin);
    let otio = previz_script::queued_export_path(&dir, "otio");
    step_until(&mut h, "the queued OTIO export", |_| otio.is_file());
    step_until(&mut h, "the export job to end", |h| {
        let s = h.state().studio.jobs.stats();
        s.running + s.queued == 0
    });
    let timeline: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&otio).unwrap()).unwrap();
    assert_eq!(timeline["OTIO_SCHEMA"], "Timeline.1");
}

#[test]
fn the_settings_window_offers_installed_models_and_writes_the_settings_file() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    // A language model dropped into a models folder the settings name.
    std::fs::write(models.join("house-llm.gguf"), b"GGUF").unwrap();
    let path = tmp.path().join("config/previz-studio/settings.toml");
    let studio = Studio::new(
        JobQueue::new(QueueConfig::default()),
        StudioSettings {
            model_dirs: vec![models.clone()],
            ..StudioSettings::default()
        },
    );
    let mut h = Harness::builder()
        .with_size(WINDOW)
        .with_pixels_per_point(1.0)
        .with_theme(egui::Theme::Dark)
        .build_ui_state(
            |ui, app: &mut StudioApp| app.frame_ui(ui),
            StudioApp::new(studio, Some(path.clone())),
        );
    h.run_steps(2);
    click_menu_steps(&mut h, "File", "Settings…");
    step_until(&mut h, "the model search", |h| {
        h.state().studio.installed_models.is_some()
    });
    h.run_steps(2);
    assert!(
        h.query_by_label("Script breakdown (LLM)").is_some(),
        "the window is open"
    );
    // The LLM choice lists what is installed; choosing it is written to the file.
    h.query_all_by_role(egui::accesskit::Role::ComboBox)
        .find(|n| n.value().as_deref() == Some("none: the built-in rules"))
        .expect("the LLM's choice")
        .click();
    h.run_steps(3);
    h.get_by_label("house-llm").click();
    h.run_steps(3);
    assert_eq!(
        h.state().studio.settings.llm_model.as_deref(),
        Some("house-llm")
    );
    h.get_by_label("Auto").click();
    h.run_steps(2);
    step_until(&mut h, "the settings file", |h| {
        previz_storage::settings::Settings::read(&path)
            .is_ok_and(|s| s == h.state().studio.settings)
    });
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("llm_model = \"house-llm\""), "{text}");
    assert!(text.contains("device = \"auto\""), "{text}");
}
