//! The built-in storyboard sketch: a frame drawn from a shot's fields alone, so every shot has
//! a readable storyboard panel when no diffusion model is installed.
//!
//! What a first AD reads off it: the shot size (how much of a person the frame holds), the
//! angle (where the horizon sits, foreshortening, a Dutch tilt, an over-the-shoulder foreground,
//! a point-of-view vignette), the camera move (storyboard arrows), who is in frame (named
//! figures on the thirds), and a caption strip with the shot number, size, angle, lens and
//! action. Interior or exterior comes from the scene heading.
//!
//! [`draw_sketch`] is deterministic (the same input and size give the same pixels; variety
//! comes only from [`SketchInput::seed`]) and never fails: any text, any size, any lens.

mod figure;
mod raster;
mod set;

use image::RgbImage;
use previz_core::shot::{CameraAngle, CameraMovement, ShotSize};
use previz_render::text;

use figure::{BODY_H, Figure, Stance, warp_y};
use raster::{INK, INK_SOFT, PAPER, Pen, Pt, STRIP, Xf, polygon, pt, round_rect};
use set::{Reach, SetSpec};

/// What the sketch is drawn from: a shot's fields and its scene's heading.
#[derive(Clone, Debug, Default)]
pub struct SketchInput<'a> {
    pub size: Option<ShotSize>,
    pub angle: Option<CameraAngle>,
    pub movement: Option<CameraMovement>,
    pub lens_mm: Option<f32>,
    /// Who or what is in frame: one figure per entry (up to five are drawn), each labelled with
    /// its name (a blank name draws an unlabelled figure). For an insert, the prop.
    pub subjects: Vec<String>,
    /// The shot's action line.
    pub action: &'a str,
    /// The shot number ("3A", "12"); may be empty.
    pub label: &'a str,
    /// The scene heading ("INT. KITCHEN - NIGHT"); may be empty.
    pub heading: &'a str,
    /// Stable per shot: which third a lone figure stands on, the set's details, the Dutch tilt's
    /// direction.
    pub seed: u64,
}

/// Draws the storyboard sketch of a shot: the whole image is the frame, at any size (tiny
/// images get the frame only). Deterministic; never panics.
#[must_use]
pub fn draw_sketch(input: &SketchInput<'_>, width: u32, height: u32) -> RgbImage {
    let mut img = paper(width, height);
    if width < 24 || height < 24 {
        border(&mut img, 1);
        return img;
    }
    let ctx = Ctx::new(input, width, height);
    let angle = input.angle.unwrap_or(CameraAngle::EyeLevel);
    let mut pen = Pen::new(&mut img);
    if angle == CameraAngle::Dutch {
        let mut rng = Rng::new(input.seed, 1);
        let sign = if rng.coin() { 1.0 } else { -1.0 };
        pen.xf = Xf::rotate(pt(ctx.w / 2.0, ctx.vis / 2.0), sign * 13.0f32.to_radians());
    }
    let labels = scene(&mut pen, &ctx, input);
    pen.xf = Xf::IDENTITY;
    if angle == CameraAngle::Pov {
        set::vignette(pen.img, ctx.vis);
    }
    let heading_bottom = heading(&mut pen, &ctx, input.heading);
    if let Some(mv) = input.movement {
        movement(&mut pen, &ctx, mv, &mut Rng::new(input.seed, 2));
    }
    if ctx.text {
        place_labels(&mut pen, &ctx, &labels, heading_bottom);
        caption(&mut pen, &ctx, input);
    }
    border(&mut img, ctx.lw.round().max(1.0) as u32);
    img
}

/// Interior, exterior, or not said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Int,
    Ext,
    Unknown,
}

impl Place {
    fn of(heading: &str) -> Place {
        let h = heading.trim_start().to_uppercase();
        if h.starts_with("EXT") || h.starts_with("I/E") || h.starts_with("INT./EXT") {
            Place::Ext
        } else if h.starts_with("INT") {
            Place::Int
        } else {
            Place::Unknown
        }
    }
}

/// The frame's measurements, in pixels.
struct Ctx {
    w: f32,
    h: f32,
    /// Where the caption strip begins: the picture is composed above it.
    vis: f32,
    /// One "point": line widths and text scale with the image.
    u: f32,
    /// Figure outlines.
    lw: f32,
    /// Set lines.
    set_lw: f32,
    place: Place,
    /// Whether text is big enough to draw at all.
    text: bool,
    title_px: f32,
    action_px: f32,
    name_px: f32,
    pad: f32,
}

impl Ctx {
    fn new(input: &SketchInput<'_>, width: u32, height: u32) -> Ctx {
        let (w, h) = (width as f32, height as f32);
        let u = (w * h).sqrt() / 768.0;
        let min_text = if (w * h).sqrt() >= 180.0 { 8.0 } else { 0.0 };
        let title_px = (17.0 * u).max(min_text);
        let action_px = (15.5 * u).max(min_text);
        let pad = (7.0 * u).max(2.0);
        let text = title_px >= 7.5 && w >= 96.0;
        let strip = if text {
            pad * 1.7 + title_px * 1.25 + action_px * 1.25 * 2.0
        } else {
            0.0
        };
        let lw = (2.0 * u).max(1.0);
        Ctx {
            w,
            h,
            vis: (h - strip).max(h * 0.5),
            u,
            lw,
            set_lw: (1.5 * u).max(0.8),
            place: Place::of(input.heading),
            text,
            title_px,
            action_px,
            name_px: (13.5 * u).max(min_text),
            pad,
        }
    }
}

/// A small deterministic generator (SplitMix64); each use has its own stream so that a change
/// to one part of the drawing does not reshuffle the others.
pub(crate) struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        let t = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * t
    }

    /// Uniform in lo..=hi.
    pub(crate) fn int(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi.saturating_sub(lo) as u64 + 1)) as usize
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

/// A name to write near a figure.
struct Label {
    text: String,
    head_top: Pt,
    head_c: Pt,
    head_r: f32,
    /// The side the figure faces (-1, 0, 1): the name goes behind the head if not above it.
    facing: f32,
    /// A fixed place (centre of the name), tried first.
    at: Option<Pt>,
}

impl Label {
    fn of(name: &str, fig: &Figure, xf: Xf, facing: f32) -> Option<Label> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        Some(Label {
            text: name.to_uppercase(),
            head_top: xf.apply(fig.head_top),
            head_c: xf.apply(fig.head_c),
            head_r: fig.head_r,
            facing,
            at: None,
        })
    }

    fn fixed(text: String, at: Pt) -> Label {
        Label {
            text,
            head_top: at,
            head_c: at,
            head_r: 0.0,
            facing: 0.0,
            at: Some(at),
        }
    }
}

/// The picture: set and figures, in scene coordinates (through the pen's Dutch tilt).
fn scene(pen: &mut Pen<'_>, ctx: &Ctx, input: &SketchInput<'_>) -> Vec<Label> {
    let size = input.size.unwrap_or(ShotSize::Medium);
    let angle = input.angle.unwrap_or(CameraAngle::EyeLevel);
    let mut rng = Rng::new(input.seed, 3);
    if size == ShotSize::Insert {
        let anchor = set::insert_prop(pen, ctx, &input.subjects.join(", "), &mut rng);
        let names: Vec<&str> = input
            .subjects
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() {
            return Vec::new();
        }
        let at = pen.xf.apply(anchor + pt(0.0, ctx.name_px));
        return vec![Label::fixed(names.join(", ").to_uppercase(), at)];
    }
    if angle == CameraAngle::Overhead {
        return overhead(pen, ctx, size, input, &mut rng);
    }
    if size == ShotSize::ExtremeCloseUp && !input.subjects.is_empty() {
        let e = (ctx.w / 3.4).min(ctx.vis / 1.45);
        let eye_y = ctx.vis * 0.5;
        let spec = SetSpec {
            horizon: eye_y,
            reach: Reach::Tight,
            cam: 0.55,
            feet: None,
            open_side: 1.0,
            person_ratio: None,
            figures_x: Vec::new(),
        };
        set::draw_set(pen, ctx, &spec, &mut rng);
        let fig = figure::eyes_ecu(ctx.w / 2.0, eye_y, e, ctx.lw);
        fig.draw(pen, ctx.lw);
        let name = input.subjects[0].trim();
        if name.is_empty() {
            return Vec::new();
        }
        let at = pen
            .xf
            .apply(pt(ctx.w / 2.0, eye_y - 0.95 * e - ctx.name_px));
        let at = pt(at.x, at.y.max(ctx.vis * 0.14));
        return vec![Label::fixed(name.to_uppercase(), at)];
    }
    standing_scene(pen, ctx, input, size, angle, &mut rng)
}

/// How a shot size frames a standing person: (pixels per head unit, top of the head).
fn fit_person(size: ShotSize, fs: f32, vis: f32) -> (f32, f32) {
    // Close shots: the headroom and the body line the frame's bottom edge cuts.
    let tight = |headroom: f32, cut: f32| {
        let s = vis * (1.0 - headroom) / warp_y(cut, fs);
        (s, vis * headroom)
    };
    // Far shots: the person's height and where the feet stand, as fractions of the frame.
    let far = |height: f32, feet: f32| {
        let s = vis * height / BODY_H;
        (s, vis * feet - BODY_H * s)
    };
    match size {
        ShotSize::ExtremeCloseUp | ShotSize::Insert => tight(0.02, 1.3),
        ShotSize::CloseUp => tight(0.07, 2.1),
        ShotSize::MediumCloseUp => tight(0.08, 3.0),
        ShotSize::Medium => tight(0.09, 4.15),
        ShotSize::MediumWide => tight(0.09, 5.9),
        ShotSize::Full => {
            let feet = if fs > 0.0 { 0.96 } else { 0.93 };
            far(feet - 0.1, feet)
        }
        ShotSize::Wide => far(0.34, if fs > 0.0 { 0.88 } else { 0.83 }),
        ShotSize::ExtremeWide => far(0.085, 0.76),
    }
}

fn reach_of(size: ShotSize) -> Reach {
    match size {
        ShotSize::ExtremeWide => Reach::Extreme,
        ShotSize::Wide => Reach::Wide,
        ShotSize::Full => Reach::Full,
        _ => Reach::Tight,
    }
}

fn standing_scene(
    pen: &mut Pen<'_>,
    ctx: &Ctx,
    input: &SketchInput<'_>,
    size: ShotSize,
    angle: CameraAngle,
    rng: &mut Rng,
) -> Vec<Label> {
    let (w, vis) = (ctx.w, ctx.vis);
    let fs = match angle {
        CameraAngle::Low => 0.45,
        CameraAngle::WormsEye => 0.8,
        CameraAngle::High => -0.35,
        _ => 0.0,
    };
    let ots = angle == CameraAngle::OverTheShoulder;
    let pov = angle == CameraAngle::Pov;
    // Over the shoulder: the first subject faces the camera, the second is the shoulder.
    let mut on_cam: Vec<&str> = input.subjects.iter().map(String::as_str).collect();
    let fg_name = if ots && on_cam.len() >= 2 {
        Some(on_cam.remove(1))
    } else {
        None
    };
    let shown = on_cam.len().min(5);
    let extra = on_cam.len() - shown;
    let side = if Rng::new(input.seed, 4).coin() {
        1.0
    } else {
        -1.0
    };

    // The thirds; in a tall frame a lone figure keeps nearer the middle.
    let offset = ((w / vis - 0.6) / 0.9).clamp(0.35, 1.0) / 6.0;
    let third = w * (0.5 + side * offset);
    let xs: Vec<f32> = match shown {
        0 => Vec::new(),
        1 => vec![third],
        n if ots => (0..n)
            .map(|i| third + (i as f32 - (n - 1) as f32 / 2.0) * w * 0.17)
            .collect(),
        2 => vec![w * 0.28, w * 0.72],
        n => (0..n)
            .map(|i| w * (0.2 + 0.6 * i as f32 / (n - 1) as f32))
            .collect(),
    };
    let reach = reach_of(size);
    let (mut s, mut top) = fit_person(size, fs, vis);
    if reach == Reach::Tight {
        // A tall frame: the shoulders (about two heads) stay about within its width.
        s = s.min(w / 2.0);
    }
    if shown >= 2 {
        // Keep neighbours apart (a two-shot) or barely overlapping (a group).
        let gap = xs
            .windows(2)
            .map(|p| (p[1] - p[0]).abs())
            .fold(f32::MAX, f32::min);
        let k = if shown == 2 { 0.92 } else { 1.5 };
        let s_max = gap * k / (2.0 * 1.2);
        if s > s_max {
            if reach != Reach::Tight {
                top += BODY_H * (s - s_max);
            }
            s = s_max;
        }
    }
    let eye_y = top + warp_y(0.5, fs) * s;
    let horizon = match angle {
        CameraAngle::Low => vis * 0.8,
        CameraAngle::WormsEye => vis * 0.95,
        // Looking down: the horizon leaves the top of the frame (a far shot still shows it).
        CameraAngle::High if reach == Reach::Extreme => vis * 0.1,
        CameraAngle::High => -vis * 0.12,
        _ if shown > 0 => eye_y.clamp(vis * 0.12, vis * 0.8),
        _ => match reach {
            Reach::Extreme => vis * 0.64,
            Reach::Wide => vis * 0.55,
            _ => vis * 0.45,
        },
    };
    let cam = match angle {
        CameraAngle::Low => 0.2,
        CameraAngle::WormsEye => 0.05,
        CameraAngle::High => 0.92,
        _ => 0.55,
    };
    let feet = (reach != Reach::Tight && shown > 0).then_some(top + BODY_H * s);
    let open_side = if shown == 0 {
        if side > 0.0 { -1.0 } else { 1.0 }
    } else {
        -side
    };
    let person_ratio = feet.map(|f| BODY_H * s / (f - horizon).max(vis * 0.01));
    let spec = SetSpec {
        horizon,
        reach,
        cam,
        feet,
        open_side,
        person_ratio,
        figures_x: xs.clone(),
    };
    set::draw_set(pen, ctx, &spec, rng);

    // Figures: back row first.
    let mut order: Vec<usize> = (0..shown).collect();
    let back = |i: usize| shown >= 3 && i % 2 == 1;
    order.sort_by_key(|&i| !back(i));
    let mut labels = Vec::new();
    for i in order {
        let x = xs[i];
        let facing = if pov {
            0.0
        } else if ots || shown == 1 {
            // Toward the frame's centre (and the shoulder they talk to).
            -side
        } else if x < w * 0.45 {
            1.0
        } else if x > w * 0.55 {
            -1.0
        } else {
            0.0
        };
        let (si, ti) = if back(i) {
            let sb = s * 0.84;
            (sb, eye_y - warp_y(0.5, fs) * sb)
        } else {
            (s, top)
        };
        let st = Stance {
            x,
            top: ti,
            s: si,
            fs,
            facing,
            shadow: reach != Reach::Tight,
            back: back(i),
        };
        let fig = figure::standing(&st, ctx.lw);
        fig.draw(pen, ctx.lw);
        labels.extend(Label::of(on_cam[i], &fig, pen.xf, facing));
    }
    // More people than are drawn: say so beside the rightmost figure.
    if extra > 0
        && let Some(last) = labels
            .iter()
            .max_by(|a, b| a.head_c.x.total_cmp(&b.head_c.x))
    {
        let at = last.head_c + pt(last.head_r * 4.5, last.head_r * 3.0);
        labels.push(Label::fixed(format!("+{extra} MORE"), at));
    }
    if ots {
        let fg_s = (s * 1.6).clamp(vis * 0.4, vis * 0.85).min(w * 0.5);
        let head = pt(w * (0.5 - side * 0.39), (eye_y + 0.1 * fg_s).max(vis * 0.3));
        let fig = figure::back_of_head(head, fg_s, side);
        fig.draw(pen, ctx.lw);
        if let Some(name) = fg_name
            && !name.trim().is_empty()
        {
            let at = pen.xf.apply(head + pt(side * 0.1 * fg_s, 1.0 * fg_s));
            labels.push(Label::fixed(name.trim().to_uppercase(), at));
        }
    }
    labels
}

/// Straight down: the floor, and people as shoulders and heads.
fn overhead(
    pen: &mut Pen<'_>,
    ctx: &Ctx,
    size: ShotSize,
    input: &SketchInput<'_>,
    rng: &mut Rng,
) -> Vec<Label> {
    let (w, vis) = (ctx.w, ctx.vis);
    let f = match size {
        ShotSize::ExtremeWide => 0.03,
        ShotSize::Wide => 0.07,
        ShotSize::Full => 0.12,
        ShotSize::MediumWide => 0.16,
        ShotSize::Medium => 0.21,
        ShotSize::MediumCloseUp => 0.27,
        ShotSize::CloseUp => 0.35,
        ShotSize::ExtremeCloseUp | ShotSize::Insert => 0.5,
    };
    let mut s = f * vis;
    set::floor_from_above(pen, ctx, s, rng);
    let n = input.subjects.len().min(5);
    let side = if Rng::new(input.seed, 4).coin() {
        1.0
    } else {
        -1.0
    };
    let c = pt(w / 2.0, vis / 2.0);
    // (position, facing angle): a lone figure on a third facing down the frame, two facing each
    // other, a group in a ring facing its centre.
    let spots: Vec<(Pt, f32)> = match n {
        0 => Vec::new(),
        1 => vec![(
            pt(w * (0.5 + side / 6.0), vis * 0.5),
            std::f32::consts::FRAC_PI_2,
        )],
        2 => vec![
            (pt(w * 0.32, vis * 0.5), 0.0),
            (pt(w * 0.68, vis * 0.5), std::f32::consts::PI),
        ],
        n => {
            let r = pt(w.min(vis * 1.6) * 0.28, vis * 0.28);
            (0..n)
                .map(|i| {
                    let a =
                        std::f32::consts::TAU * i as f32 / n as f32 - std::f32::consts::FRAC_PI_2;
                    (
                        pt(c.x + r.x * a.cos(), c.y + r.y * a.sin()),
                        a + std::f32::consts::PI,
                    )
                })
                .collect()
        }
    };
    if n >= 2 {
        let gap = spots
            .iter()
            .enumerate()
            .flat_map(|(i, a)| spots[i + 1..].iter().map(move |b| (a.0 - b.0).len()))
            .fold(f32::MAX, f32::min);
        s = s.min(gap / 2.3);
    }
    let mut labels = Vec::new();
    for (i, &(p, a)) in spots.iter().enumerate() {
        let fig = figure::top_view(p, s, a);
        fig.draw(pen, ctx.lw);
        labels.extend(Label::of(&input.subjects[i], &fig, pen.xf, 0.0));
    }
    labels
}

/// Storyboard arrows for the camera move, and a tag naming it.
fn movement(pen: &mut Pen<'_>, ctx: &Ctx, mv: CameraMovement, rng: &mut Rng) {
    use CameraMovement as M;
    let (w, vis, u) = (ctx.w, ctx.vis, ctx.u);
    let dir = if rng.coin() { 1.0 } else { -1.0 };
    let m = w.min(vis);
    let span = |a: Pt, b: Pt| if dir > 0.0 { (a, b) } else { (b, a) };
    let mut arrows: Vec<(Pt, Pt)> = Vec::new();
    let tag: String = match mv {
        M::Static => return,
        M::Pan => {
            arrows.push(span(pt(w * 0.3, vis * 0.17), pt(w * 0.7, vis * 0.17)));
            "PAN".into()
        }
        M::Tilt => {
            arrows.push(span(pt(w * 0.93, vis * 0.72), pt(w * 0.93, vis * 0.26)));
            if dir > 0.0 { "TILT UP" } else { "TILT DOWN" }.into()
        }
        M::Pedestal | M::Crane => {
            arrows.push(span(pt(w * 0.07, vis * 0.72), pt(w * 0.07, vis * 0.26)));
            let what = if mv == M::Crane { "CRANE" } else { "PED" };
            format!("{what} {}", if dir > 0.0 { "UP" } else { "DOWN" })
        }
        M::Tracking | M::Truck => {
            let y = vis - m * 0.09;
            arrows.push(span(pt(w * 0.28, y), pt(w * 0.72, y)));
            if mv == M::Tracking { "TRACK" } else { "TRUCK" }.into()
        }
        M::Zoom | M::DollyIn | M::DollyOut => {
            let inward = mv != M::DollyOut;
            let l = m * 0.13;
            for (sx, sy) in [(-1.0f32, -1.0f32), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
                let corner = pt(
                    w / 2.0 + sx * (w / 2.0 - m * 0.07),
                    vis / 2.0 + sy * (vis / 2.0 - m * 0.07),
                );
                let inner = corner + pt(-sx, -sy * 0.75).unit() * l;
                arrows.push(if inward {
                    (corner, inner)
                } else {
                    (inner, corner)
                });
            }
            match mv {
                M::Zoom => "ZOOM IN",
                M::DollyIn => "DOLLY IN",
                _ => "DOLLY OUT",
            }
            .into()
        }
        M::Handheld => "HANDHELD".into(),
        M::Steadicam => "STEADICAM".into(),
        M::Drone => "DRONE".into(),
    };
    for (a, b) in arrows {
        block_arrow(pen, a, b, u);
    }
    if ctx.text {
        tag_box(pen, ctx, &tag);
    }
}

/// An outlined block arrow from `a` to `b`.
fn block_arrow(pen: &mut Pen<'_>, a: Pt, b: Pt, u: f32) {
    let d = b - a;
    let len = d.len();
    if len < 1.0 {
        return;
    }
    let dir = d.unit();
    let n = dir.perp();
    let head_len = (20.0 * u).min(len * 0.5);
    let (sw, hw) = (4.5 * u, 12.0 * u);
    let hb = b - dir * head_len;
    let shape = polygon(vec![
        a + n * sw,
        hb + n * sw,
        hb + n * hw,
        b,
        hb - n * hw,
        hb - n * sw,
        a - n * sw,
    ]);
    pen.fill(std::slice::from_ref(&shape), PAPER, 0.92);
    pen.stroke_closed(&shape, (1.8 * u).max(1.0), INK, 1.0);
}

/// A small boxed word in the top right corner (a camera move without an arrow, or naming one).
fn tag_box(pen: &mut Pen<'_>, ctx: &Ctx, t: &str) {
    let size = ctx.name_px;
    let tw = text::measure(t, size);
    let pad = ctx.pad;
    let x1 = ctx.w - pad * 1.5;
    let x0 = x1 - tw - pad * 2.0;
    let y0 = pad * 1.5;
    let y1 = y0 + size * 1.1 + pad;
    let bx = round_rect(x0, y0, x1, y1, pad * 0.6);
    pen.fill(std::slice::from_ref(&bx), PAPER, 0.9);
    pen.stroke_closed(&bx, (1.4 * ctx.u).max(1.0), INK, 1.0);
    text::draw(
        pen.img,
        t,
        x0 + pad,
        y0 + pad * 0.5 + text::ascent(size),
        size,
        INK,
        true,
    );
}

/// Writes the names near their figures: above the head if there is room, else behind it, else
/// on the chest; never over another name.
fn place_labels(pen: &mut Pen<'_>, ctx: &Ctx, labels: &[Label], top_limit: f32) {
    let size = ctx.name_px;
    let pad = ctx.pad * 0.6;
    let margin = ctx.pad;
    let mut placed: Vec<[f32; 4]> = Vec::new();
    for l in labels {
        let t = text::fit(&l.text, size, ctx.w * 0.4);
        if t.is_empty() {
            continue;
        }
        let tw = text::measure(&t, size);
        let (bw, bh) = (tw + 2.0 * pad, size * 1.15 + pad);
        let gap = ctx.u * 6.0;
        let behind = if l.facing == 0.0 { -1.0 } else { -l.facing };
        let mut candidates = Vec::new();
        candidates.extend(l.at);
        candidates.push(pt(l.head_top.x, l.head_top.y - gap - bh / 2.0));
        candidates.push(pt(
            l.head_c.x + behind * (l.head_r + gap + bw / 2.0),
            l.head_c.y,
        ));
        candidates.push(pt(
            l.head_c.x - behind * (l.head_r + gap + bw / 2.0),
            l.head_c.y,
        ));
        candidates.push(pt(l.head_c.x, l.head_c.y + l.head_r * 3.2));
        let fits = |c: Pt| -> Option<[f32; 4]> {
            let b = [
                c.x - bw / 2.0,
                c.y - bh / 2.0,
                c.x + bw / 2.0,
                c.y + bh / 2.0,
            ];
            let inside = b[0] >= margin
                && b[2] <= ctx.w - margin
                && b[1] >= top_limit.max(margin)
                && b[3] <= ctx.vis - margin;
            let clear = placed
                .iter()
                .all(|p| b[2] < p[0] || b[0] > p[2] || b[3] < p[1] || b[1] > p[3]);
            (inside && clear).then_some(b)
        };
        let chosen = candidates.iter().find_map(|&c| fits(c)).or_else(|| {
            // Nothing fits cleanly: the first choice, pushed inside the frame.
            let c = candidates
                .first()
                .copied()
                .unwrap_or(pt(ctx.w / 2.0, ctx.vis / 2.0));
            let x = c.x.clamp(
                margin + bw / 2.0,
                (ctx.w - margin - bw / 2.0).max(margin + bw / 2.0),
            );
            let y = c.y.clamp(
                top_limit.max(margin) + bh / 2.0,
                (ctx.vis - margin - bh / 2.0).max(top_limit.max(margin) + bh / 2.0),
            );
            let b = [x - bw / 2.0, y - bh / 2.0, x + bw / 2.0, y + bh / 2.0];
            b.iter().all(|v| v.is_finite()).then_some(b)
        });
        let Some(b) = chosen else { continue };
        placed.push(b);
        let bx = round_rect(b[0], b[1], b[2], b[3], pad);
        pen.fill(std::slice::from_ref(&bx), PAPER, 0.82);
        let baseline = b[1] + pad / 2.0 + text::ascent(size) * 0.98;
        text::draw(pen.img, &t, b[0] + pad, baseline, size, INK, true);
    }
}

/// The scene heading, small, top left. Returns the bottom of its box (the top margin if none).
fn heading(pen: &mut Pen<'_>, ctx: &Ctx, heading: &str) -> f32 {
    let heading = heading.trim();
    if !ctx.text || heading.is_empty() {
        return 0.0;
    }
    let size = ctx.name_px;
    let t = text::fit(heading, size, ctx.w * 0.62);
    if t.is_empty() {
        return 0.0;
    }
    let pad = ctx.pad;
    let (x0, y0) = (pad * 1.5, pad * 1.5);
    let x1 = x0 + text::measure(&t, size) + pad * 1.6;
    let y1 = y0 + size * 1.1 + pad;
    let bx = round_rect(x0, y0, x1, y1, pad * 0.6);
    pen.fill(std::slice::from_ref(&bx), PAPER, 0.85);
    text::draw(
        pen.img,
        &t,
        x0 + pad * 0.8,
        y0 + pad * 0.5 + text::ascent(size),
        size,
        INK,
        false,
    );
    y1 + pad * 0.5
}

/// The caption strip: shot number, size, angle and lens; the action in two lines at most.
fn caption(pen: &mut Pen<'_>, ctx: &Ctx, input: &SketchInput<'_>) {
    let (w, h, vis, pad) = (ctx.w, ctx.h, ctx.vis, ctx.pad);
    pen.fill_px(&[raster::rect(0.0, vis, w, h)], STRIP, 1.0);
    pen.fill_px(
        &[raster::rect(0.0, vis - ctx.u * 0.75, w, vis + ctx.u * 0.75)],
        INK,
        0.75,
    );
    let title = title(input);
    let x = pad * 1.5;
    let max_w = w - pad * 3.0;
    let mut baseline = vis + pad + text::ascent(ctx.title_px);
    if !title.is_empty() {
        let t = text::fit(&title, ctx.title_px, max_w);
        text::draw(pen.img, &t, x, baseline, ctx.title_px, INK, true);
        baseline += ctx.title_px * 0.25 + ctx.action_px * 1.2;
    } else {
        baseline = vis + pad + text::ascent(ctx.action_px);
    }
    for line in text::wrap(input.action, ctx.action_px, max_w, 2) {
        text::draw(pen.img, &line, x, baseline, ctx.action_px, INK_SOFT, false);
        baseline += ctx.action_px * 1.22;
    }
}

/// "SHOT 3A  MCU · LOW · 35mm": only the parts that are known.
fn title(input: &SketchInput<'_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(s) = input.size {
        parts.push(size_name(s).into());
    }
    if let Some(a) = input.angle {
        parts.push(angle_name(a).into());
    }
    if let Some(l) = input.lens_mm
        && l.is_finite()
        && l > 0.0
        && l < 10_000.0
    {
        parts.push(if (l - l.round()).abs() < 0.05 {
            format!("{}mm", l.round() as i64)
        } else {
            format!("{l:.1}mm")
        });
    }
    let label: String = input.label.trim().chars().take(16).collect();
    // A label of nothing the font can draw (emoji, say) is no label.
    let label = if text::measure(label.trim(), 10.0) > 0.0 {
        label
    } else {
        String::new()
    };
    let rest = parts.join(" \u{b7} ");
    match (label.is_empty(), rest.is_empty()) {
        (true, _) => rest,
        (false, true) => format!("SHOT {label}"),
        (false, false) => format!("SHOT {label}   {rest}"),
    }
}

fn size_name(s: ShotSize) -> &'static str {
    match s {
        ShotSize::ExtremeWide => "EWS",
        ShotSize::Wide => "WS",
        ShotSize::Full => "FULL",
        ShotSize::MediumWide => "MWS",
        ShotSize::Medium => "MS",
        ShotSize::MediumCloseUp => "MCU",
        ShotSize::CloseUp => "CU",
        ShotSize::ExtremeCloseUp => "ECU",
        ShotSize::Insert => "INSERT",
    }
}

fn angle_name(a: CameraAngle) -> &'static str {
    match a {
        CameraAngle::EyeLevel => "EYE LEVEL",
        CameraAngle::High => "HIGH",
        CameraAngle::Low => "LOW",
        CameraAngle::Overhead => "OVERHEAD",
        CameraAngle::WormsEye => "WORM'S EYE",
        CameraAngle::Dutch => "DUTCH",
        CameraAngle::OverTheShoulder => "OTS",
        CameraAngle::Pov => "POV",
    }
}

/// The frame line around the whole image, `t` pixels wide.
fn border(img: &mut RgbImage, t: u32) {
    let (w, h) = img.dimensions();
    let t = t.min(w.div_ceil(2)).min(h.div_ceil(2));
    for y in 0..h {
        if y < t || y >= h - t {
            for x in 0..w {
                img.put_pixel(x, y, image::Rgb(INK));
            }
        } else {
            for x in (0..t).chain(w - t..w) {
                img.put_pixel(x, y, image::Rgb(INK));
            }
        }
    }
}

/// A blank sheet (one allocation and a few doubling copies, not a loop over pixels).
fn paper(width: u32, height: u32) -> RgbImage {
    let n = (width as usize).checked_mul(height as usize);
    n.and_then(|n| RgbImage::from_raw(width, height, PAPER.repeat(n)))
        .unwrap_or_else(|| RgbImage::from_pixel(width, height, image::Rgb(PAPER)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_names_only_what_is_known() {
        let mut input = SketchInput {
            label: "3A",
            ..SketchInput::default()
        };
        assert_eq!(title(&input), "SHOT 3A");
        input.size = Some(ShotSize::MediumCloseUp);
        input.angle = Some(CameraAngle::Low);
        input.lens_mm = Some(35.0);
        assert_eq!(title(&input), "SHOT 3A   MCU \u{b7} LOW \u{b7} 35mm");
        input.label = "";
        input.lens_mm = Some(f32::NAN);
        assert_eq!(title(&input), "MCU \u{b7} LOW");
        input.lens_mm = Some(-4.0);
        input.angle = None;
        assert_eq!(title(&input), "MCU");
        input.lens_mm = Some(27.5);
        assert_eq!(title(&input), "MCU \u{b7} 27.5mm");
        input.label = "\u{1f3ac}\u{1f600}";
        assert_eq!(title(&input), "MCU \u{b7} 27.5mm");
    }

    #[test]
    fn headings_say_inside_or_outside() {
        assert_eq!(Place::of("INT. KITCHEN - NIGHT"), Place::Int);
        assert_eq!(Place::of("ext. beach - day"), Place::Ext);
        assert_eq!(Place::of("INT./EXT. CAR - MOVING"), Place::Ext);
        assert_eq!(Place::of("I/E CAR"), Place::Ext);
        assert_eq!(Place::of(""), Place::Unknown);
        assert_eq!(Place::of("KITCHEN"), Place::Unknown);
    }

    #[test]
    fn person_framing_grows_with_the_shot_size() {
        use ShotSize as S;
        let order = [
            S::ExtremeWide,
            S::Wide,
            S::Full,
            S::MediumWide,
            S::Medium,
            S::MediumCloseUp,
            S::CloseUp,
        ];
        for fs in [0.0, 0.45, 0.8, -0.35] {
            let scales: Vec<f32> = order.iter().map(|&s| fit_person(s, fs, 500.0).0).collect();
            assert!(scales.windows(2).all(|p| p[0] < p[1]), "{fs}: {scales:?}");
        }
    }
}
