//! The timeline panel, driven through the whole window (`StudioApp::frame_ui`) with simulated
//! pointer, wheel and key events; every test asserts on the document afterwards.
//!
//! The project is the rough cut of `assets/screenplays/short-action.fountain`: a storyboard
//! track of four master shots back to back, a dialogue track per speaking character, and an
//! empty music / SFX track.

use egui::{Event, Key, Modifiers, PointerButton, Pos2, Rect, pos2, vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use previz_core::{Item, ItemId, Project, Timeline};
use previz_jobs::{JobQueue, QueueConfig};
use previz_storage::Session;
use previz_studio::settings::StudioSettings;
use previz_studio::studio::{AutosaveState, OpenProject};
use previz_studio::{Studio, StudioApp};

struct Fixture {
    harness: Harness<'static, StudioApp>,
    _dir: tempfile::TempDir,
}

fn rough_cut() -> Project {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/screenplays/short-action.fountain"
    );
    let bytes = std::fs::read(path).expect("the sample screenplay");
    let parsed = previz_screenplay::parse_fountain_bytes(&bytes).expect("it parses");
    let mut project = Project::new("The Lighthouse Run");
    project.script = previz_screenplay::convert::to_script(&parsed.screenplay);
    let cut = previz_core::roughcut::rough_cut(&project);
    project.apply(&cut).expect("the rough cut applies");
    project
}

fn open(project: Project) -> Fixture {
    open_with(project, false)
}

/// `tofu`: draw missing glyphs as boxes instead of failing (the window's notifications and
/// status bar use glyphs the test fonts lack).
fn open_with(project: Project, tofu: bool) -> Fixture {
    open_session(project, tofu, false)
}

fn open_session(project: Project, tofu: bool, read_only: bool) -> Fixture {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("test.previz");
    let mut session = Session::create(&path, project).expect("a session");
    if read_only {
        session.close().expect("closed");
        session = Session::open(&path, previz_storage::OpenMode::ReadOnly)
            .expect("opened read-only")
            .0;
    }
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
    let app = StudioApp::new(studio, None);
    let mut builder = Harness::builder()
        .with_size(vec2(1400.0, 900.0))
        .with_step_dt(1.0 / 60.0);
    if tofu {
        builder = builder.allow_missing_glyphs();
    }
    let mut harness = builder.build_ui_state(|ui, app: &mut StudioApp| app.frame_ui(ui), app);
    harness.step();
    let mut fixture = Fixture { harness, _dir: dir };
    // The whole edit in view, so every clip has room on screen.
    let duration = fixture.doc().timeline.duration_frames() as f64;
    fixture.view_mut().show_frames(0.0, duration * 1.3);
    fixture.view_mut().snapping = false;
    fixture.harness.step();
    fixture.harness.step();
    fixture
}

impl Fixture {
    fn app(&self) -> &StudioApp {
        self.harness.state()
    }

    fn studio(&mut self) -> &mut Studio {
        &mut self.harness.state_mut().studio
    }

    fn doc(&self) -> &Project {
        self.app().studio.doc().expect("a project is open")
    }

    fn timeline(&self) -> Timeline {
        self.doc().timeline.clone()
    }

    fn view(&self) -> &previz_studio::panels::timeline::TimelineView {
        &self.app().views.timeline
    }

    fn view_mut(&mut self) -> &mut previz_studio::panels::timeline::TimelineView {
        &mut self.harness.state_mut().views.timeline
    }

    fn storyboard(&self, index: usize) -> ItemId {
        self.doc().timeline.tracks[0].items[index].id()
    }

    /// (start, duration) of a clip.
    fn placed(&self, clip: ItemId) -> (i64, i64) {
        let (t, i) = self
            .doc()
            .timeline
            .find_item(clip)
            .expect("the clip exists");
        let track = &self.doc().timeline.tracks[t];
        (track.start_of(i), track.items[i].duration_frames())
    }

    fn clip_rect(&self, clip: ItemId) -> Rect {
        self.view()
            .clip_rect(self.doc(), clip)
            .expect("the timeline was drawn")
    }

    fn points_per_frame(&self) -> f32 {
        self.view().points_per_frame
    }

    fn x_of(&self, frame: f64) -> f32 {
        self.view().viewport().expect("drawn").frame_to_x(frame)
    }

    fn modifiers(&mut self, modifiers: Modifiers) {
        self.harness.event(Event::ModifiersChanged(modifiers));
        self.harness.step();
    }

    fn button(&mut self, pos: Pos2, pressed: bool, modifiers: Modifiers) {
        self.harness.event(Event::PointerButton {
            pos,
            button: PointerButton::Primary,
            pressed,
            modifiers,
        });
    }

    fn click(&mut self, pos: Pos2, modifiers: Modifiers) {
        self.harness.event(Event::ModifiersChanged(modifiers));
        self.harness.event(Event::PointerMoved(pos));
        self.button(pos, true, modifiers);
        self.button(pos, false, modifiers);
        self.harness.event(Event::ModifiersChanged(Modifiers::NONE));
        self.harness.step();
    }

    fn double_click(&mut self, pos: Pos2) {
        self.harness.event(Event::PointerMoved(pos));
        for _ in 0..2 {
            self.button(pos, true, Modifiers::NONE);
            self.button(pos, false, Modifiers::NONE);
        }
        self.harness.step();
    }

    /// Presses at `from`, moves to `to` in steps (a frame each), and releases unless told not to.
    fn drag(&mut self, from: Pos2, to: Pos2, release: bool) {
        self.harness.event(Event::PointerMoved(from));
        self.button(from, true, Modifiers::NONE);
        for k in 1..=12 {
            let t = k as f32 / 12.0;
            self.harness
                .event(Event::PointerMoved(from + (to - from) * t));
        }
        if release {
            self.button(to, false, Modifiers::NONE);
        }
        self.harness.step();
    }

    fn key(&mut self, key: Key) {
        self.harness.key_press(key);
        self.harness.step();
    }

    fn key_with(&mut self, modifiers: Modifiers, key: Key) {
        self.harness.key_press_modifiers(modifiers, key);
        self.harness.step();
    }

    fn undo(&mut self) {
        self.key_with(Modifiers::COMMAND, Key::Z);
    }

    fn redo(&mut self) {
        self.key_with(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    }

    fn undo_label(&self) -> Option<String> {
        self.app().studio.undo_label()
    }
}

fn gaps(track: &previz_core::Track) -> usize {
    track.items.iter().filter(|i| i.is_gap()).count()
}

#[test]
fn clicking_a_clip_selects_it_and_shift_click_adds() {
    let mut f = open(rough_cut());
    let (a, b) = (f.storyboard(0), f.storyboard(1));
    f.click(f.clip_rect(a).center(), Modifiers::NONE);
    assert_eq!(f.app().studio.selection.clips, [a].into());
    // A storyboard clip selects its shot in the other panels too.
    let shot = match &f.doc().timeline.tracks[0].items[0] {
        Item::Clip(c) => match c.source {
            previz_core::ClipSource::Shot { shot } => shot,
            _ => panic!("a storyboard clip shows a shot"),
        },
        Item::Gap(_) => panic!("the storyboard starts with a clip"),
    };
    assert_eq!(f.app().studio.selection.shots, [shot].into());

    f.click(f.clip_rect(b).center(), Modifiers::SHIFT);
    assert_eq!(f.app().studio.selection.clips, [a, b].into());
    // Shift-clicking a selected clip takes it out again.
    f.click(f.clip_rect(a).center(), Modifiers::SHIFT);
    assert_eq!(f.app().studio.selection.clips, [b].into());

    // Clicking empty track space clears the selection.
    let end = f.doc().timeline.tracks[0].duration_frames() as f64;
    let empty = pos2(f.x_of(end + 20.0), f.clip_rect(b).center().y);
    f.click(empty, Modifiers::NONE);
    assert!(f.app().studio.selection.clips.is_empty());
}

#[test]
fn dragging_a_clip_moves_it_as_one_undo_step() {
    let mut f = open(rough_cut());
    let before = f.timeline();
    let last = f.doc().timeline.tracks[0].items.len() - 1;
    let clip = f.storyboard(last);
    let (start, duration) = f.placed(clip);
    let from = f.clip_rect(clip).center();
    let to = from + vec2(40.0 * f.points_per_frame(), 0.0);
    f.drag(from, to, true);

    assert_eq!(
        f.placed(clip),
        (start + 40, duration),
        "moved 40 frames later"
    );
    assert_eq!(gaps(&f.doc().timeline.tracks[0]), 1, "a gap where it was");
    assert_eq!(f.undo_label().as_deref(), Some("Move clip"));
    assert!(!f.view().is_dragging());

    f.undo();
    assert_eq!(f.timeline(), before, "one undo puts the whole drag back");
    f.redo();
    assert_eq!(
        f.placed(clip),
        (start + 40, duration),
        "redo moves it again"
    );
}

#[test]
fn a_move_over_a_neighbour_and_back_leaves_the_neighbour_whole() {
    // Moves are re-applied from the origin at each step, so passing over a clip does not
    // chop it.
    let mut f = open(rough_cut());
    let before = f.timeline();
    let (a, b) = (f.storyboard(0), f.storyboard(1));
    let (_, b_len) = f.placed(b);
    let from = f.clip_rect(a).center();
    let over = from + vec2((b_len / 2) as f32 * f.points_per_frame(), 0.0);
    f.drag(from, over, false);
    assert!(f.view().is_dragging());
    assert!(
        f.doc()
            .timeline
            .find_item(b)
            .is_none_or(|_| f.placed(b).1 < b_len),
        "mid-drag the clip overwrites part of its neighbour"
    );
    // Back home and let go: nothing changed, and no undo step was made.
    for k in 1..=6 {
        let p = over + (from - over) * (k as f32 / 6.0);
        f.harness.event(Event::PointerMoved(p));
    }
    f.button(from, false, Modifiers::NONE);
    f.harness.step();
    assert_eq!(f.timeline(), before);
    assert_eq!(f.undo_label(), None);
}

#[test]
fn escape_abandons_a_drag() {
    let mut f = open(rough_cut());
    let before = f.timeline();
    let last = f.doc().timeline.tracks[0].items.len() - 1;
    let clip = f.storyboard(last);
    let from = f.clip_rect(clip).center();
    let to = from + vec2(30.0 * f.points_per_frame(), 0.0);
    f.drag(from, to, false);
    assert_ne!(f.timeline(), before, "the move shows while dragging");
    f.key(Key::Escape);
    assert_eq!(f.timeline(), before, "escape puts it back");
    f.button(to, false, Modifiers::NONE);
    f.harness.step();
    assert_eq!(f.timeline(), before, "releasing afterwards does nothing");
    assert_eq!(f.undo_label(), None);
}

#[test]
fn alt_drag_ripples_the_track() {
    let mut f = open(rough_cut());
    let (a, b) = (f.storyboard(0), f.storyboard(1));
    let total = f.doc().timeline.tracks[0].duration_frames();
    let (_, b_len) = f.placed(b);
    let from = f.clip_rect(a).center();
    let to = from + vec2(b_len as f32 * f.points_per_frame(), 0.0);
    f.modifiers(Modifiers::ALT);
    f.drag(from, to, true);
    f.modifiers(Modifiers::NONE);
    let track = &f.doc().timeline.tracks[0];
    assert_eq!(track.items[0].id(), b, "the neighbour closed up to frame 0");
    assert_eq!(track.items[1].id(), a, "the clip went in after it");
    assert_eq!(gaps(track), 0);
    assert_eq!(track.duration_frames(), total);
}

#[test]
fn dragging_the_edges_trims_tail_and_head() {
    let mut f = open(rough_cut());
    let before = f.timeline();
    let last = f.doc().timeline.tracks[0].items.len() - 1;
    let clip = f.storyboard(last);
    let (start, duration) = f.placed(clip);
    let ppf = f.points_per_frame();

    let rect = f.clip_rect(clip);
    let tail = pos2(rect.right() - 2.0, rect.center().y);
    f.drag(tail, tail - vec2(24.0 * ppf, 0.0), true);
    assert_eq!(
        f.placed(clip),
        (start, duration - 24),
        "the tail came in 24 frames"
    );
    assert_eq!(f.undo_label().as_deref(), Some("Trim clip"));

    let rect = f.clip_rect(clip);
    let head = pos2(rect.left() + 2.0, rect.center().y);
    f.drag(head, head + vec2(12.0 * ppf, 0.0), true);
    assert_eq!(
        f.placed(clip),
        (start + 12, duration - 36),
        "the head went in 12 frames, leaving a gap before it"
    );

    // Each trim was one step.
    f.undo();
    assert_eq!(f.placed(clip), (start, duration - 24));
    f.undo();
    assert_eq!(f.timeline(), before);
}

#[test]
fn a_trim_never_asks_for_more_than_the_track_allows() {
    // Growing a clip's tail into its neighbour without ripple is clamped at the cut rather
    // than refused.
    let mut f = open(rough_cut());
    let a = f.storyboard(0);
    let (start, duration) = f.placed(a);
    let rect = f.clip_rect(a);
    let tail = pos2(rect.right() - 2.0, rect.center().y);
    f.drag(tail, tail + vec2(30.0 * f.points_per_frame(), 0.0), true);
    assert_eq!(f.placed(a), (start, duration));
    assert!(f.app().studio.toasts.visible.is_empty(), "no refused edit");

    // With alt the trim ripples the rest of the track later.
    let total = f.doc().timeline.tracks[0].duration_frames();
    f.modifiers(Modifiers::ALT);
    f.drag(tail, tail + vec2(30.0 * f.points_per_frame(), 0.0), true);
    f.modifiers(Modifiers::NONE);
    assert_eq!(f.placed(a), (start, duration + 30));
    assert_eq!(f.doc().timeline.tracks[0].duration_frames(), total + 30);
}

#[test]
fn a_dragged_clip_snaps_to_the_playhead() {
    let mut f = open(rough_cut());
    let last = f.doc().timeline.tracks[0].items.len() - 1;
    let clip = f.storyboard(last);
    let (start, duration) = f.placed(clip);
    let playhead = start + duration + 60;
    f.studio().transport.seek(playhead, 0.0);
    f.view_mut().snapping = true;
    f.harness.step();
    let ppf = f.points_per_frame();
    // Aim the head 5 points short of the playhead: within reach.
    let from = f.clip_rect(clip).center();
    let shift = (playhead - start) as f32 * ppf - 5.0;
    f.drag(from, from + vec2(shift, 0.0), true);
    assert_eq!(
        f.placed(clip).0,
        playhead,
        "the head snapped onto the playhead"
    );
    f.undo();

    // N turns snapping off: the same drag lands short.
    f.key(Key::N);
    assert!(!f.view().snapping);
    f.drag(from, from + vec2(shift, 0.0), true);
    let expected = start + ((shift / ppf).round() as i64);
    assert_eq!(f.placed(clip).0, expected);
    assert_ne!(expected, playhead);
}

#[test]
fn s_splits_the_selected_clip_at_the_playhead() {
    let mut f = open(rough_cut());
    let b = f.storyboard(1);
    let (start, duration) = f.placed(b);
    let count = f.doc().timeline.tracks[0].items.len();
    f.click(f.clip_rect(b).center(), Modifiers::NONE);
    let cut = start + duration / 2;
    f.studio().transport.seek(cut, 0.0);
    f.key(Key::S);
    let track = &f.doc().timeline.tracks[0];
    assert_eq!(track.items.len(), count + 1);
    assert_eq!(f.placed(b), (start, cut - start));
    let second = f.doc().timeline.tracks[0].items[2].id();
    assert_eq!(f.placed(second), (cut, start + duration - cut));
}

#[test]
fn shift_delete_ripples_the_selected_clip_out() {
    let mut f = open(rough_cut());
    let (a, b) = (f.storyboard(0), f.storyboard(1));
    let (_, a_len) = f.placed(a);
    let total = f.doc().timeline.tracks[0].duration_frames();
    f.click(f.clip_rect(a).center(), Modifiers::NONE);
    f.key_with(Modifiers::SHIFT, Key::Delete);
    assert!(f.doc().timeline.find_item(a).is_none());
    assert_eq!(f.placed(b).0, 0, "the next clip closed up");
    assert_eq!(f.doc().timeline.tracks[0].duration_frames(), total - a_len);
    assert!(f.app().studio.selection.clips.is_empty());
}

#[test]
fn ctrl_wheel_zooms_around_the_pointer_and_the_wheel_scrolls() {
    let mut f = open(rough_cut());
    let lanes = f.view().lanes_rect().expect("drawn");
    let pointer = pos2(lanes.left() + lanes.width() * 0.6, lanes.center().y);
    f.harness.event(Event::PointerMoved(pointer));
    f.harness.step();
    let ppf = f.points_per_frame();
    let anchor = f.view().viewport().expect("drawn").x_to_frame(pointer.x);
    f.harness.event(Event::ModifiersChanged(Modifiers::COMMAND));
    f.harness.event(Event::MouseWheel {
        unit: egui::MouseWheelUnit::Line,
        delta: vec2(0.0, 2.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers: Modifiers::COMMAND,
    });
    f.harness.step();
    f.harness.run_steps(30);
    f.modifiers(Modifiers::NONE);
    assert!(f.points_per_frame() > ppf * 1.2, "zoomed in");
    let after = f.view().viewport().expect("drawn").x_to_frame(pointer.x);
    assert!(
        (after - anchor).abs() < 0.5,
        "the frame under the pointer stayed put"
    );

    // The plain wheel scrolls sideways.
    let scroll = f.view().scroll_frame;
    f.harness.event(Event::MouseWheel {
        unit: egui::MouseWheelUnit::Line,
        delta: vec2(0.0, -2.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers: Modifiers::NONE,
    });
    f.harness.step();
    f.harness.run_steps(30);
    assert!(f.view().scroll_frame > scroll, "scrolled later");
}

#[test]
fn clicking_and_dragging_in_the_ruler_moves_the_playhead() {
    let mut f = open(rough_cut());
    let ruler = f.view().ruler_rect().expect("drawn");
    f.click(pos2(f.x_of(100.0), ruler.center().y), Modifiers::NONE);
    assert_eq!(f.app().studio.transport.playhead, 100);
    f.drag(
        pos2(f.x_of(100.0), ruler.center().y),
        pos2(f.x_of(250.0), ruler.center().y),
        true,
    );
    assert_eq!(f.app().studio.transport.playhead, 250);
    assert_eq!(f.undo_label(), None, "scrubbing is not an edit");
}

#[test]
fn markers_are_added_moved_and_undone() {
    let mut f = open(rough_cut());
    f.studio().transport.seek(48, 0.0);
    f.harness.step();
    f.key(Key::M);
    let markers = &f.doc().timeline.markers;
    assert_eq!(markers.len(), 1);
    assert_eq!(markers[0].frame, 48);
    assert_eq!(f.undo_label().as_deref(), Some("Add marker"));

    // Dragging the flag moves the marker, as one step.
    let ruler = f.view().ruler_rect().expect("drawn");
    let flag = pos2(f.x_of(48.0) + 4.0, ruler.top() + 5.0);
    f.drag(flag, flag + vec2(60.0 * f.points_per_frame(), 0.0), true);
    assert_eq!(f.doc().timeline.markers[0].frame, 108);
    assert_eq!(f.undo_label().as_deref(), Some("Move marker"));
    f.undo();
    assert_eq!(f.doc().timeline.markers[0].frame, 48);
    f.undo();
    assert!(f.doc().timeline.markers.is_empty());

    // Double-clicking the ruler adds one where it was clicked.
    f.double_click(pos2(f.x_of(200.0), ruler.center().y));
    let markers = &f.doc().timeline.markers;
    assert_eq!(markers.len(), 1);
    assert_eq!(markers[0].frame, 200);
}

#[test]
fn track_header_buttons_mute_and_lock_and_locked_tracks_refuse_drags() {
    // Dragging on a locked track says why in a notification.
    let mut f = open_with(rough_cut(), true);
    let before = f.timeline();
    f.harness
        .get_all_by_label("L")
        .next()
        .expect("a lock button")
        .click();
    f.harness.step();
    f.harness.step();
    assert!(f.doc().timeline.tracks[0].locked);
    assert_eq!(f.undo_label().as_deref(), Some("Track flags"));

    let last = f.doc().timeline.tracks[0].items.len() - 1;
    let clip = f.storyboard(last);
    let from = f.clip_rect(clip).center();
    f.drag(from, from + vec2(80.0, 0.0), true);
    assert_eq!(f.doc().timeline.tracks[0].items, before.tracks[0].items);
    assert!(
        f.app()
            .studio
            .toasts
            .visible
            .iter()
            .any(|t| t.title.contains("is locked")),
        "the refusal is explained"
    );

    f.harness
        .get_all_by_label("M")
        .next()
        .expect("a mute button")
        .click();
    f.harness.step();
    f.harness.step();
    assert!(f.doc().timeline.tracks[0].muted);
}

#[test]
fn the_layout_is_rebuilt_per_revision_not_per_frame() {
    let mut f = open(rough_cut());
    let rebuilds = f.view().layout_rebuilds();
    f.harness.run_steps(10);
    assert_eq!(f.view().layout_rebuilds(), rebuilds);
    f.key(Key::M);
    assert!(f.view().layout_rebuilds() > rebuilds);
}

#[test]
fn a_clip_dragged_down_lands_on_a_track_of_its_kind_only() {
    let mut f = open(rough_cut());
    let tracks = &f.doc().timeline.tracks;
    let dialogue = tracks
        .iter()
        .position(|t| t.name.starts_with("Dialogue"))
        .expect("a dialogue track");
    let music = tracks.len() - 1;
    let line = tracks[dialogue]
        .items
        .iter()
        .find(|i| !i.is_gap())
        .expect("a speech")
        .id();
    let (start, duration) = f.placed(line);
    let from = f.clip_rect(line).center();

    // Up onto the storyboard (picture): it stays on its own track.
    let storyboard_y = f.view().track_row(0).expect("drawn").center().y;
    f.drag(from, pos2(from.x, storyboard_y), true);
    assert_eq!(
        f.doc().timeline.find_item(line).map(|(t, _)| t),
        Some(dialogue)
    );
    assert_eq!(f.placed(line), (start, duration));

    // Down onto music / SFX (sound): it moves there, same frame.
    let music_y = f.view().track_row(music).expect("drawn").center().y;
    f.drag(from, pos2(from.x, music_y), true);
    assert_eq!(
        f.doc().timeline.find_item(line).map(|(t, _)| t),
        Some(music)
    );
    assert_eq!(f.placed(line), (start, duration));
    assert_eq!(f.undo_label().as_deref(), Some("Move clip"));
}

#[test]
fn double_clicking_a_track_name_renames_it() {
    let mut f = open(rough_cut());
    let lanes = f.view().lanes_rect().expect("drawn");
    let row = f.view().track_row(0).expect("drawn");
    f.double_click(pos2(lanes.left() - 120.0, row.top() + 12.0));
    f.harness.step();
    f.key_with(Modifiers::COMMAND, Key::A);
    f.harness.event(Event::Text("Animatic".to_owned()));
    f.harness.step();
    f.key(Key::Enter);
    f.harness.step();
    assert_eq!(f.doc().timeline.tracks[0].name, "Animatic");
    assert_eq!(f.undo_label().as_deref(), Some("Rename track"));
}

#[test]
fn right_clicking_a_marker_offers_to_delete_it() {
    let mut f = open(rough_cut());
    f.studio().transport.seek(60, 0.0);
    f.harness.step();
    f.key(Key::M);
    assert_eq!(f.doc().timeline.markers.len(), 1);
    let ruler = f.view().ruler_rect().expect("drawn");
    let flag = pos2(f.x_of(60.0) + 4.0, ruler.top() + 5.0);
    f.harness.event(Event::PointerMoved(flag));
    for pressed in [true, false] {
        f.harness.event(Event::PointerButton {
            pos: flag,
            button: PointerButton::Secondary,
            pressed,
            modifiers: Modifiers::NONE,
        });
    }
    f.harness.step();
    f.harness.step();
    f.harness.get_by_label("Delete marker").click();
    f.harness.step();
    f.harness.step();
    assert!(f.doc().timeline.markers.is_empty());
    assert_eq!(f.undo_label().as_deref(), Some("Remove marker"));
}

#[test]
fn the_view_follows_the_playhead_while_playing() {
    // The status bar shows a play glyph the test fonts lack.
    let mut f = open_with(rough_cut(), true);
    f.view_mut().show_frames(0.0, 120.0);
    f.harness.step();
    let end = f.doc().timeline.duration_frames();
    f.studio().transport.seek(400, 0.0);
    f.studio().transport.toggle(0.0, end);
    f.harness.run_steps(3);
    let playhead = f.app().studio.transport.playhead as f64;
    let lanes = f.view().lanes_rect().expect("drawn");
    assert!(
        lanes.x_range().contains(f.x_of(playhead)),
        "the playhead is in view"
    );
    f.studio().transport.stop();
}

#[test]
fn the_wheel_over_the_headers_scrolls_many_tracks() {
    let mut project = rough_cut();
    for n in 0..16 {
        project.timeline.tracks.push(previz_core::Track::new(
            format!("SFX {n}"),
            previz_core::TrackKind::Audio,
        ));
    }
    let mut f = open(project);
    let lanes = f.view().lanes_rect().expect("drawn");
    let top = f.view().track_row(0).expect("drawn").top();
    f.harness.event(Event::PointerMoved(pos2(
        lanes.left() - 80.0,
        lanes.center().y,
    )));
    f.harness.event(Event::MouseWheel {
        unit: egui::MouseWheelUnit::Line,
        delta: vec2(0.0, -3.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers: Modifiers::NONE,
    });
    f.harness.step();
    f.harness.run_steps(30);
    assert!(f.view().scroll_y > 0.0, "scrolled down");
    assert!(f.view().track_row(0).expect("drawn").top() < top);
}

#[test]
fn a_read_only_project_refuses_a_drag_once() {
    let mut f = open_session(rough_cut(), true, true);
    let before = f.timeline();
    let clip = f.storyboard(1);
    let from = f.clip_rect(clip).center();
    f.drag(from, from + vec2(60.0, 0.0), true);
    assert_eq!(f.timeline(), before);
    let toasts = &f.app().studio.toasts.visible;
    assert_eq!(toasts.len(), 1, "{toasts:?}");
    assert!(toasts[0].title.contains("read-only"));
}
