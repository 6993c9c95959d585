//! The timeline's pure geometry: frames ↔ screen x, ruler tick spacing, per-track prefix sums
//! with binary-searched visible ranges and hit-testing, and snapping.
//!
//! Nothing here touches egui state or the document's history, so all of it is unit-tested. The
//! widget asks these questions once per frame, and each answer costs O(log n) in the number of
//! items on a track, or O(visible) for what is drawn, never O(total).

use std::ops::Range;

use previz_core::{Item, Track};

/// The horizontal mapping between timeline frames and screen points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Viewport {
    /// Screen x of the lanes' left edge (where `scroll_frame` is drawn).
    pub lane_left: f32,
    /// Screen x of the lanes' right edge.
    pub lane_right: f32,
    /// The (fractional) frame at `lane_left`.
    pub scroll_frame: f64,
    /// Screen points per frame (the zoom).
    pub points_per_frame: f64,
}

impl Viewport {
    #[must_use]
    pub fn frame_to_x(&self, frame: f64) -> f32 {
        (f64::from(self.lane_left) + (frame - self.scroll_frame) * self.points_per_frame) as f32
    }

    #[must_use]
    pub fn x_to_frame(&self, x: f32) -> f64 {
        (f64::from(x) - f64::from(self.lane_left)) / self.points_per_frame + self.scroll_frame
    }

    #[must_use]
    pub fn width(&self) -> f32 {
        (self.lane_right - self.lane_left).max(0.0)
    }

    /// How many frames the lanes show.
    #[must_use]
    pub fn frames_shown(&self) -> f64 {
        f64::from(self.width()) / self.points_per_frame
    }

    /// The whole frames touching the lanes: `[first, end)`.
    #[must_use]
    pub fn visible_frames(&self) -> (i64, i64) {
        let first = self.scroll_frame.floor() as i64;
        let end = (self.scroll_frame + self.frames_shown()).ceil() as i64 + 1;
        (first, end)
    }

    /// This viewport zoomed by `factor` (> 1 zooms in) keeping the frame under `x` where it is,
    /// with the zoom clamped to `[min, max]` points per frame.
    #[must_use]
    pub fn zoomed_around(&self, x: f32, factor: f64, min: f64, max: f64) -> Viewport {
        let anchor = self.x_to_frame(x);
        let points_per_frame = (self.points_per_frame * factor).clamp(min, max);
        let scroll_frame = anchor - (f64::from(x) - f64::from(self.lane_left)) / points_per_frame;
        Viewport {
            points_per_frame,
            scroll_frame,
            ..*self
        }
    }
}

/// Frame steps that read well as timecode at a timecode base (`fps`): divisors of a second,
/// then seconds, minutes and hours in 1-2-5-ish steps.
fn ladder(fps: i64) -> impl Iterator<Item = i64> {
    let fps = fps.max(1);
    let frames = (1..fps).filter(move |d| fps % d == 0);
    let seconds = [1, 2, 5, 10, 15, 30].into_iter().map(move |s| s * fps);
    let minutes = [1, 2, 5, 10, 15, 30].into_iter().map(move |m| m * 60 * fps);
    let hours = [1, 2, 4, 8, 24].into_iter().map(move |h| h * 3600 * fps);
    frames.chain(seconds).chain(minutes).chain(hours)
}

/// Ruler tick spacing, in frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RulerStep {
    /// Labelled ticks.
    pub major: i64,
    /// Unlabelled ticks between them (equal to `major` when there is no room for any).
    pub minor: i64,
}

/// Picks the ruler's spacing: the smallest step of the timecode ladder whose labels are at least
/// `min_label_points` apart, and the finest step dividing it that keeps ticks `min_tick_points`
/// apart. Frames when zoomed in, seconds, then minutes as the view widens.
#[must_use]
pub fn ruler_step(
    fps: i64,
    points_per_frame: f64,
    min_label_points: f64,
    min_tick_points: f64,
) -> RulerStep {
    let major = ladder(fps)
        .find(|step| *step as f64 * points_per_frame >= min_label_points)
        .unwrap_or(24 * 3600 * fps.max(1));
    let minor = ladder(fps)
        .take_while(|step| *step < major)
        .find(|step| major % step == 0 && *step as f64 * points_per_frame >= min_tick_points)
        .unwrap_or(major);
    RulerStep { major, minor }
}

/// The ticks of one step inside `[first, end)`: multiples of `step`, in order.
pub fn ticks(step: i64, first: i64, end: i64) -> impl Iterator<Item = i64> {
    let step = step.max(1);
    let start = first.max(0).div_euclid(step) * step;
    (0..)
        .map(move |k| start + k * step)
        .take_while(move |frame| *frame < end)
}

/// Where each item of a track starts: a prefix sum of durations, rebuilt when the document
/// changes so each frame can binary-search the visible range instead of summing from zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackLayout {
    /// `starts[i]` is where item `i` starts; the last entry is the track's end.
    starts: Vec<i64>,
    /// `clips_before[i]` counts the clips among items `0..i` (so visible clips are counted in
    /// O(1) per track).
    clips_before: Vec<usize>,
}

impl TrackLayout {
    #[must_use]
    pub fn new(track: &Track) -> Self {
        let mut starts = Vec::with_capacity(track.items.len() + 1);
        let mut clips_before = Vec::with_capacity(track.items.len() + 1);
        let (mut at, mut clips) = (0i64, 0usize);
        for item in &track.items {
            starts.push(at);
            clips_before.push(clips);
            at += item.duration_frames();
            clips += usize::from(!item.is_gap());
        }
        starts.push(at);
        clips_before.push(clips);
        Self {
            starts,
            clips_before,
        }
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this layout was built from a track with this many items ending at `end` (a
    /// cheap check that the cache still describes the track).
    #[must_use]
    pub fn matches(&self, track: &Track) -> bool {
        self.len() == track.items.len()
            && track.items.last().is_none_or(|last| {
                self.start(self.len() - 1) + last.duration_frames() == self.end()
            })
    }

    /// Where item `index` starts (the track's end past the last item).
    #[must_use]
    pub fn start(&self, index: usize) -> i64 {
        self.starts
            .get(index)
            .or(self.starts.last())
            .copied()
            .unwrap_or(0)
    }

    /// Where the track ends.
    #[must_use]
    pub fn end(&self) -> i64 {
        self.starts.last().copied().unwrap_or(0)
    }

    /// The items overlapping `[from, to)`.
    #[must_use]
    pub fn overlapping(&self, from: f64, to: f64) -> Range<usize> {
        let n = self.len();
        // Items ending at or before `from` are left of the range...
        let first = self.starts[1..].partition_point(|end| (*end as f64) <= from);
        // ... and items starting at or after `to` right of it.
        let last = self.starts[..n].partition_point(|start| (*start as f64) < to);
        first..last.max(first)
    }

    /// The first item starting at or after `frame`.
    #[must_use]
    pub fn first_starting_from(&self, frame: f64) -> usize {
        self.starts[..self.len()].partition_point(|start| (*start as f64) < frame)
    }

    /// The item covering `frame` (start ≤ frame < end).
    #[must_use]
    pub fn item_at(&self, frame: f64) -> Option<usize> {
        if frame < 0.0 || frame >= self.end() as f64 {
            return None;
        }
        let index = self
            .starts
            .partition_point(|start| (*start as f64) <= frame);
        index.checked_sub(1).filter(|i| *i < self.len())
    }

    /// How many clips (not gaps) are among `items`.
    #[must_use]
    pub fn clips_in(&self, items: Range<usize>) -> usize {
        let at = |i: usize| self.clips_before.get(i).copied().unwrap_or(0);
        at(items.end.min(self.len())).saturating_sub(at(items.start.min(self.len())))
    }
}

/// Which part of a clip the pointer is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// The head edge: dragging trims the start.
    Head,
    /// The tail edge: dragging trims the end.
    Tail,
    /// The middle: dragging moves the clip.
    Body,
}

/// What a pointer at `x` on a track's row touches: a clip (by index) and which part of it.
/// Edges are grabbable `edge_points` either side of the cut, so a cut between two clips offers
/// the left clip's tail on its left side and the right clip's head on its right side; a clip
/// too narrow for three zones gives its middle third to moving.
#[must_use]
pub fn hit_test(
    track: &Track,
    layout: &TrackLayout,
    viewport: &Viewport,
    x: f32,
    edge_points: f32,
) -> Option<(usize, Zone)> {
    if !layout.matches(track) {
        return None;
    }
    let is_clip = |i: usize| matches!(track.items.get(i), Some(Item::Clip(_)));
    let edges_of = |i: usize| {
        let x0 = viewport.frame_to_x(layout.start(i) as f64);
        let x1 = viewport.frame_to_x(layout.start(i + 1) as f64);
        let edge = edge_points.min((x1 - x0) / 3.0).max(0.0);
        (x0, x1, edge)
    };
    let frame = viewport.x_to_frame(x);
    let under = layout.item_at(frame);
    if let Some(i) = under.filter(|i| is_clip(*i)) {
        let (x0, x1, edge) = edges_of(i);
        let zone = if x - x0 <= edge {
            Zone::Head
        } else if x1 - x <= edge {
            Zone::Tail
        } else {
            Zone::Body
        };
        return Some((i, zone));
    }
    // Over a gap, or off either end: a clip edge within reach still counts.
    let (before, after) = match under {
        Some(gap) => (gap.checked_sub(1), gap + 1),
        None if frame < 0.0 => (None, 0),
        None => (layout.len().checked_sub(1), layout.len()),
    };
    if let Some(i) = before.filter(|i| is_clip(*i)) {
        let (_, x1, _) = edges_of(i);
        if (x - x1).abs() <= edge_points {
            return Some((i, Zone::Tail));
        }
    }
    if is_clip(after) {
        let (x0, _, _) = edges_of(after);
        if (x0 - x).abs() <= edge_points {
            return Some((after, Zone::Head));
        }
    }
    None
}

/// What a dragged edge can snap to: every item boundary of every track as the tracks were when
/// the drag started (their prefix sums, copied, so a clip never snaps to an edge its own move
/// made), minus the dragged clip's own edges, plus loose points (playhead, markers, in / out).
///
/// Taking it costs a copy of the prefix sums; each query is a binary search per track, so a
/// drag never visits every clip, not even when it starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapTargets {
    /// Each track's boundaries (`starts` of its items, then its end), ascending.
    tracks: Vec<Vec<i64>>,
    /// Boundaries that belong to the dragged clip alone: (track, boundary index).
    excluded: Vec<(usize, usize)>,
    /// Other frames, ascending.
    points: Vec<i64>,
}

/// The result of snapping: move the dragged thing by `shift` frames to sit on `target`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snap {
    pub shift: f64,
    pub target: i64,
}

/// The value in an ascending slice nearest to `frame`, skipping the indices `skip` says to.
fn nearest_in(sorted: &[i64], frame: f64, skip: impl Fn(usize) -> bool) -> Option<i64> {
    let split = sorted.partition_point(|f| (*f as f64) < frame);
    let left = (0..split).rev().find(|i| !skip(*i)).map(|i| sorted[i]);
    let right = (split..sorted.len()).find(|i| !skip(*i)).map(|i| sorted[i]);
    match (left, right) {
        (Some(l), Some(r)) => Some(if frame - l as f64 <= r as f64 - frame {
            l
        } else {
            r
        }),
        (l, r) => l.or(r),
    }
}

impl SnapTargets {
    /// Targets from the tracks' layouts. `dragged` is the clip being dragged as (track, item
    /// index, whether the item before it is a clip, whether the item after it is a clip): its
    /// edges are left out unless a neighbouring clip shares them.
    #[must_use]
    pub fn new(
        layouts: &[TrackLayout],
        dragged: Option<(usize, usize, bool, bool)>,
        mut points: Vec<i64>,
    ) -> Self {
        points.sort_unstable();
        points.dedup();
        let mut excluded = Vec::new();
        if let Some((track, index, clip_before, clip_after)) = dragged {
            if !clip_before {
                excluded.push((track, index));
            }
            if !clip_after {
                excluded.push((track, index + 1));
            }
        }
        Self {
            tracks: layouts.iter().map(|l| l.starts.clone()).collect(),
            excluded,
            points,
        }
    }

    /// The target nearest to `frame`.
    #[must_use]
    pub fn nearest(&self, frame: f64) -> Option<i64> {
        let on_tracks = self.tracks.iter().enumerate().filter_map(|(t, starts)| {
            // The loop runs at most a few steps: the dragged clip has two edges.
            nearest_in(starts, frame, |i| self.excluded.contains(&(t, i)))
        });
        let points = nearest_in(&self.points, frame, |_| false);
        on_tracks.chain(points).min_by(|a, b| {
            (*a as f64 - frame)
                .abs()
                .total_cmp(&(*b as f64 - frame).abs())
        })
    }

    /// Snaps whichever of `edges` (the dragged thing's edges, in frames) is nearest to a target
    /// within `max_distance` frames.
    #[must_use]
    pub fn snap(&self, edges: &[f64], max_distance: f64) -> Option<Snap> {
        edges
            .iter()
            .filter_map(|edge| {
                self.nearest(*edge).map(|target| Snap {
                    shift: target as f64 - edge,
                    target,
                })
            })
            .filter(|s| s.shift.abs() <= max_distance)
            .min_by(|a, b| a.shift.abs().total_cmp(&b.shift.abs()))
    }
}

#[cfg(test)]
mod tests {
    use previz_core::{Clip, ClipSource, Gap, TrackKind};

    use super::*;

    fn track(items: &[(bool, i64)]) -> Track {
        let mut track = Track::new("V1", TrackKind::Video);
        track.items = items
            .iter()
            .map(|(clip, frames)| {
                if *clip {
                    Item::Clip(Clip::new(
                        "c",
                        ClipSource::Slug {
                            text: String::new(),
                        },
                        *frames,
                    ))
                } else {
                    Item::Gap(Gap::new(*frames))
                }
            })
            .collect();
        track
    }

    fn viewport(ppf: f64, scroll: f64) -> Viewport {
        Viewport {
            lane_left: 100.0,
            lane_right: 1100.0,
            scroll_frame: scroll,
            points_per_frame: ppf,
        }
    }

    #[test]
    fn frames_and_x_round_trip() {
        let v = viewport(2.5, 40.0);
        assert!((v.frame_to_x(40.0) - 100.0).abs() < 1e-4);
        assert!((v.frame_to_x(44.0) - 110.0).abs() < 1e-4);
        assert!((v.x_to_frame(110.0) - 44.0).abs() < 1e-9);
        assert_eq!(v.visible_frames(), (40, 441));
    }

    #[test]
    fn zoom_keeps_the_frame_under_the_pointer() {
        let v = viewport(2.0, 100.0);
        let before = v.x_to_frame(600.0);
        let z = v.zoomed_around(600.0, 1.5, 0.01, 100.0);
        assert!((z.points_per_frame - 3.0).abs() < 1e-9);
        assert!((z.x_to_frame(600.0) - before).abs() < 1e-9);
        let clamped = v.zoomed_around(600.0, 1e9, 0.01, 100.0);
        assert!((clamped.points_per_frame - 100.0).abs() < 1e-9);
    }

    #[test]
    fn ruler_spacing_follows_the_zoom() {
        // Zoomed in: frame ticks; a frame is 40 points so labels every 2 frames fit 80 points.
        assert_eq!(
            ruler_step(24, 40.0, 80.0, 8.0),
            RulerStep { major: 2, minor: 1 }
        );
        // 2 points a frame: a second is 48 points, so labels every 2 seconds, ticks every 4
        // frames.
        assert_eq!(
            ruler_step(24, 2.0, 80.0, 8.0),
            RulerStep {
                major: 48,
                minor: 4
            }
        );
        // A tenth of a point a frame: minutes.
        let wide = ruler_step(24, 0.05, 80.0, 8.0);
        assert_eq!(wide.major, 2 * 60 * 24);
        assert!(wide.minor < wide.major && wide.major % wide.minor == 0);
        let ticks: Vec<i64> = ticks(10, 25, 61).collect();
        assert_eq!(ticks, vec![20, 30, 40, 50, 60]);
    }

    #[test]
    fn prefix_sums_find_the_visible_items() {
        let t = track(&[(true, 10), (false, 5), (true, 20), (true, 1), (true, 4)]);
        let l = TrackLayout::new(&t);
        assert!(l.matches(&t));
        assert_eq!(l.len(), 5);
        assert_eq!(l.end(), 40);
        assert_eq!(l.start(2), 15);
        assert_eq!(l.overlapping(0.0, 1.0), 0..1);
        assert_eq!(l.overlapping(10.0, 15.0), 1..2);
        assert_eq!(l.overlapping(9.5, 35.5), 0..4);
        assert_eq!(l.overlapping(40.0, 100.0), 5..5);
        assert_eq!(l.overlapping(-50.0, -1.0), 0..0);
        assert_eq!(l.item_at(14.9), Some(1));
        assert_eq!(l.item_at(15.0), Some(2));
        assert_eq!(l.item_at(40.0), None);
        assert_eq!(l.item_at(-0.1), None);
        assert_eq!(l.clips_in(0..5), 4);
        assert_eq!(l.clips_in(1..3), 1);
        assert_eq!(l.first_starting_from(15.5), 3);
        let mut changed = t.clone();
        changed.items.pop();
        assert!(!l.matches(&changed));
    }

    #[test]
    fn hit_testing_finds_edges_and_bodies() {
        // Clips of 10, gap 10, clip 10 at 10 points a frame from x = 100.
        let t = track(&[(true, 10), (true, 10), (false, 10), (true, 10)]);
        let l = TrackLayout::new(&t);
        let v = viewport(10.0, 0.0);
        assert_eq!(hit_test(&t, &l, &v, 150.0, 6.0), Some((0, Zone::Body)));
        assert_eq!(hit_test(&t, &l, &v, 103.0, 6.0), Some((0, Zone::Head)));
        // The cut at x = 200 between clips 0 and 1.
        assert_eq!(hit_test(&t, &l, &v, 197.0, 6.0), Some((0, Zone::Tail)));
        assert_eq!(hit_test(&t, &l, &v, 203.0, 6.0), Some((1, Zone::Head)));
        // Just past clip 1's tail, over the gap.
        assert_eq!(hit_test(&t, &l, &v, 304.0, 6.0), Some((1, Zone::Tail)));
        assert_eq!(hit_test(&t, &l, &v, 350.0, 6.0), None);
        assert_eq!(hit_test(&t, &l, &v, 396.0, 6.0), Some((3, Zone::Head)));
        assert_eq!(hit_test(&t, &l, &v, 503.0, 6.0), Some((3, Zone::Tail)));
        assert_eq!(hit_test(&t, &l, &v, 520.0, 6.0), None);
    }

    #[test]
    fn snapping_picks_the_nearest_edge_within_reach() {
        // Cuts at 0, 48, 100 on one track, 0 and 200 on another; the playhead at 150.
        let a = TrackLayout::new(&track(&[(true, 48), (true, 52)]));
        let b = TrackLayout::new(&track(&[(true, 200)]));
        let targets = SnapTargets::new(&[a.clone(), b.clone()], None, vec![150, 150]);
        assert_eq!(targets.nearest(60.0), Some(48));
        assert_eq!(targets.nearest(80.0), Some(100));
        assert_eq!(targets.nearest(140.0), Some(150));
        assert_eq!(targets.nearest(-5.0), Some(0));
        assert_eq!(targets.nearest(500.0), Some(200));
        // A clip from 52 to 97: its head is 4 from 48, its tail 3 from 100: the tail wins.
        let snap = targets.snap(&[52.0, 97.0], 5.0).unwrap();
        assert_eq!(snap.target, 100);
        assert!((snap.shift - 3.0).abs() < 1e-9);
        assert!(targets.snap(&[60.0, 75.0], 5.0).is_none());
        assert!(SnapTargets::default().snap(&[1.0], 5.0).is_none());

        // Dragging the second clip of track a (48..100, a clip before it, nothing after): its
        // tail is not a target, its head is (the first clip ends there).
        let dragging = SnapTargets::new(&[a, b], Some((0, 1, true, false)), vec![]);
        assert_eq!(dragging.nearest(95.0), Some(48));
        assert_eq!(dragging.nearest(50.0), Some(48));
        assert_eq!(dragging.nearest(180.0), Some(200));
    }
}
