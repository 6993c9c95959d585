//! The timeline panel: a timecode ruler with in / out shading and markers, track headers (name,
//! kind, mute, lock), clips with thumbnails and waveforms, the playhead; move, trim, snap,
//! zoom, scroll and scrub.
//!
//! Every change to the document is an `EditCommand` through [`Studio`]; a drag is one undo
//! step (a gesture). The per-frame cost follows what is on screen: each track's start frames
//! are prefix sums cached per `Studio::revision` ([`layout`]), the visible range is found by
//! binary search ([`geometry`]), and runs of clips narrower than a point and a half are drawn
//! as one bar, so a 10,000-clip edit seen whole costs about what the screen is wide.
//!
//! Files: [`geometry`] is the pure math (frame ↔ x, ruler spacing, prefix sums, hit-testing,
//! snapping); `layout` the per-revision cache; `interact` turns input into view changes and
//! commands, with `drag` for moves and trims and `headers` for the track headers; `draw` paints.

mod drag;
mod draw;
pub mod geometry;
mod headers;
mod interact;
mod layout;

use egui::{Rect, pos2};
use previz_core::{ItemId, MarkerId, Project};

use crate::studio::Studio;
use geometry::Viewport;
use layout::Layout;

/// Width of the track header column.
const HEADER_WIDTH: f32 = 160.0;
const RULER_HEIGHT: f32 = 36.0;
const SCROLLBAR: f32 = 10.0;
/// How far either side of a cut an edge can be grabbed.
const EDGE_POINTS: f32 = 6.0;
/// How close (in points) a dragged edge must come to a target to snap.
const SNAP_POINTS: f32 = 8.0;
/// Items narrower than this are drawn as one bar with their neighbours.
const DENSE_POINTS: f32 = 1.5;
/// The closest zoom: a frame this many points wide.
const MAX_POINTS_PER_FRAME: f64 = 64.0;

/// View state of the timeline (zoom, scroll, the drag in progress): everything about it that
/// is not part of the document.
#[derive(Debug)]
pub struct TimelineView {
    /// Screen points per frame (the zoom).
    pub points_per_frame: f32,
    /// First visible frame (fractional while scrolling).
    pub scroll_frame: f32,
    /// Height of a track's row.
    pub track_height: f32,
    /// Vertical scroll of the tracks, in points.
    pub scroll_y: f32,
    /// Whether dragged edges snap to clip edges, markers and the playhead (N, or the Snap button).
    pub snapping: bool,
    /// Whether the view pages along with the playhead while playing.
    pub follow_playhead: bool,
    layout: Layout,
    drag: Option<drag::Drag>,
    /// The frame a drag has snapped to, drawn as a line.
    snap_line: Option<i64>,
    /// Last frame's screen areas.
    areas: Option<Areas>,
    /// A zoom asked for before the lanes' width was known: (first frame, frames to show).
    pending_show: Option<(f64, f64)>,
    renaming: Option<headers::Renaming>,
    /// The marker whose context menu is open, and its name being edited.
    menu_marker: Option<MarkerId>,
    marker_name: String,
    /// Clips in the visible range last frame.
    visible_clips: usize,
}

impl Default for TimelineView {
    fn default() -> Self {
        Self {
            points_per_frame: 2.0,
            scroll_frame: 0.0,
            track_height: 52.0,
            scroll_y: 0.0,
            snapping: true,
            follow_playhead: true,
            layout: Layout::default(),
            drag: None,
            snap_line: None,
            areas: None,
            pending_show: None,
            renaming: None,
            menu_marker: None,
            marker_name: String::new(),
            visible_clips: 0,
        }
    }
}

/// Where the parts of the panel are on screen this frame.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Areas {
    /// Above the track headers, left of the ruler.
    corner: Rect,
    ruler: Rect,
    headers: Rect,
    lanes: Rect,
    hscroll: Rect,
    vscroll: Rect,
}

impl Areas {
    fn new(rect: Rect) -> Self {
        let lane_left = rect.left() + HEADER_WIDTH;
        let lanes_top = rect.top() + RULER_HEIGHT;
        let lanes_bottom = (rect.bottom() - SCROLLBAR).max(lanes_top);
        let lanes_right = (rect.right() - SCROLLBAR).max(lane_left);
        Self {
            corner: Rect::from_min_max(rect.min, pos2(lane_left, lanes_top)),
            ruler: Rect::from_min_max(pos2(lane_left, rect.top()), pos2(lanes_right, lanes_top)),
            headers: Rect::from_min_max(
                pos2(rect.left(), lanes_top),
                pos2(lane_left, lanes_bottom),
            ),
            lanes: Rect::from_min_max(pos2(lane_left, lanes_top), pos2(lanes_right, lanes_bottom)),
            hscroll: Rect::from_min_max(
                pos2(lane_left, lanes_bottom),
                pos2(lanes_right, rect.bottom()),
            ),
            vscroll: Rect::from_min_max(
                pos2(lanes_right, lanes_top),
                pos2(rect.right(), lanes_bottom),
            ),
        }
    }

    fn all(&self) -> Rect {
        self.corner.union(self.vscroll).union(self.hscroll)
    }
}

impl TimelineView {
    fn viewport_in(&self, areas: &Areas) -> Viewport {
        Viewport {
            lane_left: areas.lanes.left(),
            lane_right: areas.lanes.right(),
            scroll_frame: f64::from(self.scroll_frame),
            points_per_frame: f64::from(self.points_per_frame).max(1e-6),
        }
    }

    fn set_viewport(&mut self, viewport: &Viewport) {
        self.points_per_frame = viewport.points_per_frame as f32;
        self.scroll_frame = viewport.scroll_frame as f32;
    }

    /// The frame ↔ screen mapping of the last frame drawn.
    #[must_use]
    pub fn viewport(&self) -> Option<Viewport> {
        self.areas.map(|a| self.viewport_in(&a))
    }

    /// The ruler's rectangle in the last frame drawn.
    #[must_use]
    pub fn ruler_rect(&self) -> Option<Rect> {
        self.areas.map(|a| a.ruler)
    }

    /// The tracks' area (right of the headers, below the ruler) in the last frame drawn.
    #[must_use]
    pub fn lanes_rect(&self) -> Option<Rect> {
        self.areas.map(|a| a.lanes)
    }

    /// The row of track `index` (as in `Timeline::tracks`), whether scrolled into view or not.
    #[must_use]
    pub fn track_row(&self, index: usize) -> Option<Rect> {
        let lanes = self.areas?.lanes;
        let top = lanes.top() + index as f32 * self.track_height - self.scroll_y;
        Some(Rect::from_min_max(
            pos2(lanes.left(), top),
            pos2(lanes.right(), top + self.track_height),
        ))
    }

    /// Where a clip is drawn (not clipped to the lanes).
    #[must_use]
    pub fn clip_rect(&self, doc: &Project, clip: ItemId) -> Option<Rect> {
        let (t, i) = doc.timeline.find_item(clip)?;
        let track = &doc.timeline.tracks[t];
        let start = track.start_of(i);
        let end = start + track.items.get(i)?.duration_frames();
        let viewport = self.viewport()?;
        let row = self.track_row(t)?;
        Some(Rect::from_min_max(
            pos2(viewport.frame_to_x(start as f64), row.top() + 2.0),
            pos2(viewport.frame_to_x(end as f64), row.bottom() - 2.0),
        ))
    }

    /// Zooms and scrolls so `count` frames from `first` fill the lanes (from the next frame on).
    pub fn show_frames(&mut self, first: f64, count: f64) {
        self.pending_show = Some((first, count.max(1.0)));
    }

    /// How many clips were in the visible range last frame.
    #[must_use]
    pub fn visible_clips(&self) -> usize {
        self.visible_clips
    }

    /// How many times the cached track layout was rebuilt (once per document revision).
    #[must_use]
    pub fn layout_rebuilds(&self) -> u64 {
        self.layout.rebuilds
    }

    /// Whether a drag (move, trim, marker, scrub) is under way.
    #[must_use]
    pub fn is_dragging(&self) -> bool {
        self.drag.is_some()
    }

    /// The widest zoom: the whole edit in about two thirds of the lanes.
    fn min_points_per_frame(&self, lane_width: f32) -> f64 {
        let frames = (self.layout.duration as f64 * 1.5).max(240.0);
        (f64::from(lane_width) / frames).min(MAX_POINTS_PER_FRAME)
    }

    /// Keeps the view on the edit: zoom within limits, no scrolling before frame 0 or past the
    /// end, no vertical scrolling past the last track.
    fn clamp(&mut self, areas: &Areas, tracks: usize) {
        let min = self.min_points_per_frame(areas.lanes.width());
        let ppf = f64::from(self.points_per_frame).clamp(min, MAX_POINTS_PER_FRAME);
        self.points_per_frame = ppf as f32;
        let last = self.layout.duration.max(0) as f32;
        self.scroll_frame = self.scroll_frame.clamp(0.0, last);
        self.track_height = self.track_height.clamp(24.0, 200.0);
        let content = tracks as f32 * self.track_height;
        let max_y = (content - areas.lanes.height()).max(0.0);
        self.scroll_y = self.scroll_y.clamp(0.0, max_y);
    }
}

/// Draws the panel and turns what the user does in it into edits.
pub fn ui(ui: &mut egui::Ui, studio: &mut Studio, view: &mut TimelineView) {
    let Some(doc) = studio.doc() else {
        ui.label("No project open");
        return;
    };
    view.layout.refresh(doc, studio.revision);
    interact::toolbar_ui(ui, studio, view);
    let rect = ui.available_rect_before_wrap();
    if rect.width() < HEADER_WIDTH + 40.0 || rect.height() < RULER_HEIGHT + SCROLLBAR + 8.0 {
        return;
    }
    ui.allocate_rect(rect, egui::Sense::hover());
    let areas = Areas::new(rect);
    view.areas = Some(areas);
    if let Some((first, count)) = view.pending_show.take() {
        view.points_per_frame = (f64::from(areas.lanes.width()) / count) as f32;
        view.scroll_frame = first as f32;
    }
    let tracks = studio.doc().map_or(0, |d| d.timeline.tracks.len());
    view.clamp(&areas, tracks);

    interact::keys(ui, studio, view);
    interact::wheel(ui, view, &areas);
    view.clamp(&areas, tracks);
    interact::ruler(ui, studio, view, &areas);
    interact::lanes(ui, studio, view, &areas);
    interact::scrollbars(ui, view, &areas, tracks);
    interact::follow_playhead(studio, view, &areas);
    // Edits above may have changed the document; draw what it is now.
    if let Some(doc) = studio.doc() {
        view.layout.refresh(doc, studio.revision);
    }
    let tracks = studio.doc().map_or(0, |d| d.timeline.tracks.len());
    view.clamp(&areas, tracks);
    draw::timeline(ui, studio, view, &areas);
    headers::headers(ui, studio, view, &areas);
    if view.drag.is_some() || studio.transport.is_playing() {
        ui.ctx().request_repaint();
    }
}

/// Rows of the tracks in view: (track index, row rectangle).
fn visible_rows(
    view: &TimelineView,
    areas: &Areas,
    tracks: usize,
) -> impl Iterator<Item = (usize, Rect)> + use<> {
    let h = view.track_height.max(1.0);
    let first = (view.scroll_y / h).floor().max(0.0) as usize;
    let last = (((view.scroll_y + areas.lanes.height()) / h).ceil().max(0.0) as usize).min(tracks);
    let lanes = areas.lanes;
    let scroll_y = view.scroll_y;
    (first..last).map(move |i| {
        let top = lanes.top() + i as f32 * h - scroll_y;
        (
            i,
            Rect::from_min_max(pos2(lanes.left(), top), pos2(lanes.right(), top + h)),
        )
    })
}

/// The track whose row is at screen `y`.
fn row_at(view: &TimelineView, areas: &Areas, y: f32, tracks: usize) -> Option<usize> {
    if y < areas.lanes.top() || y >= areas.lanes.bottom() {
        return None;
    }
    let i = ((y - areas.lanes.top() + view.scroll_y) / view.track_height.max(1.0)).floor();
    (i >= 0.0 && (i as usize) < tracks).then_some(i as usize)
}
