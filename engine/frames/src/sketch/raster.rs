//! The drawing primitives: points, convex shapes built from circles, and one anti-aliased
//! polygon filler (non-zero winding, exact horizontal coverage, a few sub-scanlines) that every
//! line, figure and fill of the sketch goes through.

use std::f32::consts::TAU;
use std::ops::{Add, Mul, Sub};

use image::RgbImage;

/// An sRGB colour.
pub(crate) type Rgb = [u8; 3];

/// Off-white drawing paper.
pub(crate) const PAPER: Rgb = [244, 241, 233];
/// The caption strip: the same paper, a shade darker.
pub(crate) const STRIP: Rgb = [228, 223, 211];
/// Soft pencil, dark grey: outlines, text, arrows.
pub(crate) const INK: Rgb = [54, 53, 56];
/// The action text, a little lighter than the title.
pub(crate) const INK_SOFT: Rgb = [78, 76, 76];
/// Set lines (horizon, walls, trees): light enough that figures read in front of them.
pub(crate) const SET_LINE: Rgb = [152, 147, 140];
/// A light wash for walls, hills and far shapes.
pub(crate) const SET_TONE: Rgb = [229, 224, 213];
/// A second, slightly darker wash (tree canopies, tables, contact shadows).
pub(crate) const SET_TONE_2: Rgb = [216, 210, 198];
/// The figures' fill: a warmer grey than anything in the set, so people stand out from it.
pub(crate) const FIG_TONE: Rgb = [206, 193, 176];
/// Hair, brows, irises.
pub(crate) const HAIR: Rgb = [120, 110, 99];
/// The foreground shoulder of an over-the-shoulder shot.
pub(crate) const FG_DARK: Rgb = [86, 83, 80];

/// A point in pixels (y down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Pt {
    pub x: f32,
    pub y: f32,
}

pub(crate) const fn pt(x: f32, y: f32) -> Pt {
    Pt { x, y }
}

impl Add for Pt {
    type Output = Pt;
    fn add(self, o: Pt) -> Pt {
        pt(self.x + o.x, self.y + o.y)
    }
}

impl Sub for Pt {
    type Output = Pt;
    fn sub(self, o: Pt) -> Pt {
        pt(self.x - o.x, self.y - o.y)
    }
}

impl Mul<f32> for Pt {
    type Output = Pt;
    fn mul(self, k: f32) -> Pt {
        pt(self.x * k, self.y * k)
    }
}

impl Pt {
    pub fn len(self) -> f32 {
        self.x.hypot(self.y)
    }

    /// The unit vector, or zero for a zero vector.
    pub fn unit(self) -> Pt {
        let l = self.len();
        if l > 1e-6 {
            self * (1.0 / l)
        } else {
            pt(0.0, 0.0)
        }
    }

    /// Rotated a quarter turn (clockwise on screen).
    pub fn perp(self) -> Pt {
        pt(-self.y, self.x)
    }

    fn finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite()
    }
}

/// A closed polygon.
pub(crate) type Path = Vec<Pt>;

/// Enough segments that a circle of radius `r` pixels deviates by under ~0.15 px.
fn segments_for(r: f32) -> usize {
    if r.is_nan() || r <= 0.0 {
        return 8;
    }
    ((5.8 * r.min(1.0e6).sqrt()) as usize).clamp(8, 160)
}

/// How much to widen a regular n-gon so it has the area of its circle.
fn area_fix(n: usize) -> f32 {
    let n = n as f32;
    (TAU / (n * (TAU / n).sin())).sqrt()
}

/// A rotated ellipse.
pub(crate) fn ellipse(c: Pt, rx: f32, ry: f32, rot: f32) -> Path {
    let n = segments_for(rx.abs().max(ry.abs()));
    let rx = rx.abs() * area_fix(n);
    let ry = ry.abs() * area_fix(n);
    let (s, co) = rot.sin_cos();
    (0..n)
        .map(|i| {
            let (st, ct) = (TAU * i as f32 / n as f32).sin_cos();
            let (x, y) = (rx * ct, ry * st);
            pt(c.x + x * co - y * s, c.y + x * s + y * co)
        })
        .collect()
}

pub(crate) fn circle(c: Pt, r: f32) -> Path {
    ellipse(c, r, r, 0.0)
}

/// The part of an ellipse between angles `a0` and `a1` (radians, y down, `a0 < a1`), closed by
/// its chord.
pub(crate) fn arc_chord(c: Pt, rx: f32, ry: f32, a0: f32, a1: f32) -> Path {
    let n = ((segments_for(rx.abs().max(ry.abs())) as f32 * ((a1 - a0).abs() / TAU)) as usize)
        .clamp(4, 160);
    polygon(
        (0..=n)
            .map(|i| {
                let t = a0 + (a1 - a0) * i as f32 / n as f32;
                pt(c.x + rx * t.cos(), c.y + ry * t.sin())
            })
            .collect(),
    )
}

/// Points along an elliptical arc (an open polyline).
pub(crate) fn arc_points(c: Pt, rx: f32, ry: f32, a0: f32, a1: f32) -> Vec<Pt> {
    let n = ((segments_for(rx.abs().max(ry.abs())) as f32 * ((a1 - a0).abs() / TAU)) as usize)
        .clamp(3, 160);
    (0..=n)
        .map(|i| {
            let t = a0 + (a1 - a0) * i as f32 / n as f32;
            pt(c.x + rx * t.cos(), c.y + ry * t.sin())
        })
        .collect()
}

/// The convex hull of some circles: a circle, a capsule, a tapered limb, a rounded torso.
pub(crate) fn hull(circles: &[(Pt, f32)]) -> Path {
    let mut pts = Vec::new();
    for &(c, r) in circles {
        let n = segments_for(r.abs());
        let r = r.abs() * area_fix(n);
        pts.extend((0..n).map(|i| {
            let (s, co) = (TAU * i as f32 / n as f32).sin_cos();
            pt(c.x + r * co, c.y + r * s)
        }));
    }
    convex_hull(pts)
}

pub(crate) fn capsule(a: Pt, b: Pt, r: f32) -> Path {
    hull(&[(a, r), (b, r)])
}

pub(crate) fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Path {
    polygon(vec![pt(x0, y0), pt(x1, y0), pt(x1, y1), pt(x0, y1)])
}

pub(crate) fn round_rect(x0: f32, y0: f32, x1: f32, y1: f32, r: f32) -> Path {
    let r = r
        .min((x1 - x0).abs() / 2.0)
        .min((y1 - y0).abs() / 2.0)
        .max(0.0);
    hull(&[
        (pt(x0 + r, y0 + r), r),
        (pt(x1 - r, y0 + r), r),
        (pt(x1 - r, y1 - r), r),
        (pt(x0 + r, y1 - r), r),
    ])
}

/// A polygon wound the same way as every other shape, so overlapping shapes filled together
/// form their union.
pub(crate) fn polygon(mut pts: Vec<Pt>) -> Path {
    if signed_area(&pts) < 0.0 {
        pts.reverse();
    }
    pts
}

fn signed_area(pts: &[Pt]) -> f32 {
    let n = pts.len();
    (0..n)
        .map(|i| {
            let (a, b) = (pts[i], pts[(i + 1) % n]);
            a.x * b.y - b.x * a.y
        })
        .sum::<f32>()
        / 2.0
}

fn convex_hull(mut pts: Vec<Pt>) -> Path {
    pts.retain(|p| p.finite());
    pts.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: Pt, a: Pt, b: Pt| (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
    let mut lower: Vec<Pt> = Vec::with_capacity(pts.len());
    for &p in &pts {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], p) <= 0.0 {
            lower.pop();
        }
        lower.push(p);
    }
    let mut upper: Vec<Pt> = Vec::with_capacity(pts.len());
    for &p in pts.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], p) <= 0.0 {
            upper.pop();
        }
        upper.push(p);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

/// A rotation about a point: the Dutch tilt of the whole scene (identity otherwise).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Xf {
    c: Pt,
    cos: f32,
    sin: f32,
}

impl Xf {
    pub const IDENTITY: Xf = Xf {
        c: pt(0.0, 0.0),
        cos: 1.0,
        sin: 0.0,
    };

    pub fn rotate(c: Pt, radians: f32) -> Xf {
        let (sin, cos) = radians.sin_cos();
        Xf { c, cos, sin }
    }

    pub fn apply(&self, p: Pt) -> Pt {
        let d = p - self.c;
        pt(
            self.c.x + d.x * self.cos - d.y * self.sin,
            self.c.y + d.x * self.sin + d.y * self.cos,
        )
    }
}

/// Draws into an image through a transform, keeping the filler's scratch rows.
pub(crate) struct Pen<'a> {
    pub img: &'a mut RgbImage,
    pub xf: Xf,
    direct: Vec<f32>,
    delta: Vec<f32>,
    edges: Vec<Edge>,
    active: Vec<usize>,
    xs: Vec<(f32, i32)>,
    /// A run of the colour being filled, copied over interior pixels.
    solid: Vec<u8>,
}

#[derive(Clone, Copy)]
struct Edge {
    x0: f32,
    y0: f32,
    y1: f32,
    dxdy: f32,
    dir: i32,
}

/// Sub-scanlines per pixel row: vertical anti-aliasing in 1/SUB steps (horizontal is exact).
const SUB: usize = 5;

impl<'a> Pen<'a> {
    pub fn new(img: &'a mut RgbImage) -> Self {
        Pen {
            img,
            xf: Xf::IDENTITY,
            direct: Vec::new(),
            delta: Vec::new(),
            edges: Vec::new(),
            active: Vec::new(),
            xs: Vec::new(),
            solid: Vec::new(),
        }
    }

    /// Fills the union of `paths` (scene coordinates).
    pub fn fill(&mut self, paths: &[Path], col: Rgb, alpha: f32) {
        let xf = self.xf;
        self.fill_with(paths, |p| xf.apply(p), col, alpha);
    }

    /// Fills the union of `paths` given in pixel coordinates (no transform).
    pub fn fill_px(&mut self, paths: &[Path], col: Rgb, alpha: f32) {
        self.fill_with(paths, |p| p, col, alpha);
    }

    pub fn fill1(&mut self, path: Path, col: Rgb, alpha: f32) {
        self.fill(&[path], col, alpha);
    }

    /// A polyline of width `w` with round joins and caps.
    pub fn stroke(&mut self, pts: &[Pt], w: f32, col: Rgb, alpha: f32) {
        let paths = stroke_paths(pts, w, false);
        self.fill(&paths, col, alpha);
    }

    /// A closed outline of width `w`.
    pub fn stroke_closed(&mut self, pts: &[Pt], w: f32, col: Rgb, alpha: f32) {
        let paths = stroke_paths(pts, w, true);
        self.fill(&paths, col, alpha);
    }

    pub fn line(&mut self, a: Pt, b: Pt, w: f32, col: Rgb, alpha: f32) {
        self.fill1(capsule(a, b, w / 2.0), col, alpha);
    }

    /// A shape filled with `tone` and outlined with `ink`.
    pub fn shape(&mut self, path: &Path, tone: Rgb, ink: Rgb, w: f32) {
        self.fill(std::slice::from_ref(path), tone, 1.0);
        self.stroke_closed(path, w, ink, 1.0);
    }

    fn fill_with(&mut self, paths: &[Path], map: impl Fn(Pt) -> Pt, col: Rgb, alpha: f32) {
        let (w, h) = self.img.dimensions();
        if w == 0 || h == 0 || alpha.is_nan() || alpha <= 0.0 {
            return;
        }
        let alpha = alpha.min(1.0);
        self.edges.clear();
        self.solid.clear();
        let (mut xmin, mut xmax, mut ymin, mut ymax) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for path in paths {
            if path.len() < 3 {
                continue;
            }
            let mapped: Vec<Pt> = path.iter().map(|&p| map(p)).collect();
            if !mapped.iter().all(|p| p.finite()) {
                continue;
            }
            for i in 0..mapped.len() {
                let (a, b) = (mapped[i], mapped[(i + 1) % mapped.len()]);
                if a.y == b.y {
                    continue;
                }
                let (p0, p1, dir) = if a.y < b.y { (a, b, 1) } else { (b, a, -1) };
                self.edges.push(Edge {
                    x0: p0.x,
                    y0: p0.y,
                    y1: p1.y,
                    dxdy: (p1.x - p0.x) / (p1.y - p0.y),
                    dir,
                });
                xmin = xmin.min(a.x.min(b.x));
                xmax = xmax.max(a.x.max(b.x));
                ymin = ymin.min(p0.y);
                ymax = ymax.max(p1.y);
            }
        }
        if self.edges.is_empty() {
            return;
        }
        let x_start = xmin.floor().clamp(0.0, w as f32) as usize;
        let x_end = xmax.ceil().clamp(0.0, w as f32) as usize;
        let y_start = ymin.floor().clamp(0.0, h as f32) as usize;
        let y_end = ymax.ceil().clamp(0.0, h as f32) as usize;
        if x_start >= x_end || y_start >= y_end {
            return;
        }
        let bw = x_end - x_start;
        self.direct.clear();
        self.direct.resize(bw + 1, 0.0);
        self.delta.clear();
        self.delta.resize(bw + 2, 0.0);
        self.edges.sort_by(|a, b| a.y0.total_cmp(&b.y0));
        self.active.clear();
        let mut next = 0;
        // Edges entirely above the canvas never become active.
        let first_row = y_start as f32;
        while next < self.edges.len() && self.edges[next].y0 < first_row {
            if self.edges[next].y1 > first_row {
                self.active.push(next);
            }
            next += 1;
        }
        let stride = w as usize * 3;
        let weight = 1.0 / SUB as f32;
        let ox = x_start as f32;
        let colf = [f32::from(col[0]), f32::from(col[1]), f32::from(col[2])];
        for y in y_start..y_end {
            let yf = y as f32;
            while next < self.edges.len() && self.edges[next].y0 < yf + 1.0 {
                self.active.push(next);
                next += 1;
            }
            let edges = &self.edges;
            self.active.retain(|&i| edges[i].y1 > yf);
            if self.active.is_empty() {
                continue;
            }
            let mut any = false;
            let (mut lo, mut hi) = (bw, 0usize);
            // Pixels every sub-scanline covers with a single span: fully inside the shape,
            // copied in one go below (big washes would otherwise cost a blend per pixel).
            let (mut full_lo, mut full_hi, mut one_span_each) = (0usize, bw, true);
            for s in 0..SUB {
                let sy = yf + (s as f32 + 0.5) * weight;
                self.xs.clear();
                for &i in &self.active {
                    let e = &self.edges[i];
                    if e.y0 <= sy && sy < e.y1 {
                        self.xs.push((e.x0 + (sy - e.y0) * e.dxdy, e.dir));
                    }
                }
                let mut spans = 0;
                if self.xs.len() >= 2 {
                    self.xs.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let mut wind = 0;
                    let mut start = 0.0;
                    for &(x, d) in &self.xs {
                        let before = wind;
                        wind += d;
                        if before == 0 && wind != 0 {
                            start = x;
                        } else if before != 0
                            && wind == 0
                            && let Some((a, b)) = add_span(
                                &mut self.direct,
                                &mut self.delta,
                                bw,
                                start - ox,
                                x - ox,
                                weight,
                            )
                        {
                            any = true;
                            spans += 1;
                            lo = lo.min(a);
                            hi = hi.max(b.min(bw - 1));
                            full_lo = full_lo.max(a + 1);
                            full_hi = full_hi.min(b);
                        }
                    }
                }
                one_span_each &= spans == 1;
            }
            if !any {
                continue;
            }
            // The interior run, if any: pixels full_lo..full_hi (exclusive) are covered by every
            // sub-scanline and hold no coverage entries of their own.
            let solid = one_span_each && alpha >= 0.999 && full_lo + 1 < full_hi;
            let (skip_from, skip_to) = if solid {
                (full_lo + 1, full_hi)
            } else {
                (bw, bw)
            };
            let row = &mut self.img.as_mut()[y * stride..(y + 1) * stride];
            let mut run = 0.0f32;
            let mut i = lo;
            while i <= hi {
                if i == skip_from {
                    let (a, b) = ((x_start + skip_from) * 3, (x_start + skip_to) * 3);
                    if self.solid.len() < b - a {
                        self.solid = col.repeat(bw);
                    }
                    row[a..b].copy_from_slice(&self.solid[..b - a]);
                    i = skip_to;
                    continue;
                }
                run += self.delta[i];
                let cov = (self.direct[i] + run).min(1.0);
                self.direct[i] = 0.0;
                self.delta[i] = 0.0;
                i += 1;
                if cov <= 0.003 {
                    continue;
                }
                let a = cov * alpha;
                let x = (x_start + i - 1) * 3;
                let px = &mut row[x..x + 3];
                if a >= 0.999 {
                    px.copy_from_slice(&col);
                } else {
                    for k in 0..3 {
                        let v = f32::from(px[k]);
                        px[k] = (v + (colf[k] - v) * a + 0.5) as u8;
                    }
                }
            }
            // A span ending exactly at the box's right edge leaves its end mark there.
            self.delta[bw] = 0.0;
        }
    }
}

/// Adds the span `[a, b)` (pixels from the box's left edge) to the coverage row: exact partial
/// coverage at both ends, a running sum in between. Returns the first touched pixel and the
/// pixel holding the span's end (at most `bw`).
fn add_span(
    direct: &mut [f32],
    delta: &mut [f32],
    bw: usize,
    a: f32,
    b: f32,
    weight: f32,
) -> Option<(usize, usize)> {
    let a = a.clamp(0.0, bw as f32);
    let b = b.clamp(0.0, bw as f32);
    if b <= a {
        return None;
    }
    let ia = a as usize;
    let ib = b as usize;
    if ia >= bw {
        return None;
    }
    if ia == ib {
        direct[ia] += (b - a) * weight;
    } else {
        direct[ia] += (ia as f32 + 1.0 - a) * weight;
        delta[ia + 1] += weight;
        delta[ib] -= weight;
        if ib < bw {
            direct[ib] += (b - ib as f32) * weight;
        }
    }
    Some((ia, ib))
}

/// Capsules along a polyline, one per segment (their union is the stroke).
fn stroke_paths(pts: &[Pt], w: f32, closed: bool) -> Vec<Path> {
    let r = (w / 2.0).max(0.05);
    let mut out = Vec::with_capacity(pts.len());
    if pts.len() == 1 {
        out.push(circle(pts[0], r));
    }
    for pair in pts.windows(2) {
        out.push(capsule(pair[0], pair[1], r));
    }
    if closed
        && pts.len() > 2
        && let (Some(&a), Some(&b)) = (pts.last(), pts.first())
    {
        out.push(capsule(a, b, r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ink_area(img: &RgbImage) -> f32 {
        img.pixels().map(|p| 1.0 - f32::from(p[0]) / 255.0).sum()
    }

    #[test]
    fn coverage_of_a_square_is_its_area() {
        let mut img = RgbImage::from_pixel(20, 20, image::Rgb([255, 255, 255]));
        let mut pen = Pen::new(&mut img);
        pen.fill1(rect(2.3, 2.7, 9.8, 11.2), [0, 0, 0], 1.0);
        let area = ink_area(&img);
        assert!((area - 7.5 * 8.5).abs() < 1.0, "area {area}");
    }

    #[test]
    fn overlapping_shapes_fill_their_union_once() {
        let mut img = RgbImage::from_pixel(40, 40, image::Rgb([255, 255, 255]));
        let mut pen = Pen::new(&mut img);
        pen.fill(
            &[rect(5.0, 5.0, 25.0, 25.0), rect(15.0, 15.0, 35.0, 35.0)],
            [0, 0, 0],
            0.5,
        );
        // Where both squares overlap the half-alpha ink is laid once, not twice.
        assert_eq!(img.get_pixel(20, 20)[0], img.get_pixel(8, 8)[0]);
        assert!((i32::from(img.get_pixel(8, 8)[0]) - 128).abs() <= 1);
    }

    #[test]
    fn the_interior_fast_path_draws_what_blending_draws() {
        let shapes = [
            vec![circle(pt(40.3, 38.7), 30.0), rect(50.0, 10.0, 75.5, 70.2)],
            vec![polygon(vec![
                pt(5.0, 5.0),
                pt(75.0, 20.0),
                pt(10.0, 70.0),
                pt(40.0, 30.0),
            ])],
        ];
        for paths in &shapes {
            let mut fast = RgbImage::from_pixel(80, 80, image::Rgb([250, 240, 230]));
            let mut slow = fast.clone();
            Pen::new(&mut fast).fill(paths, [10, 20, 30], 1.0);
            // Just under full alpha: every pixel goes through the blend.
            Pen::new(&mut slow).fill(paths, [10, 20, 30], 0.9995);
            for (a, b) in fast.pixels().zip(slow.pixels()) {
                assert!((0..3).all(|k| a[k].abs_diff(b[k]) <= 1), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn a_circle_has_the_area_of_a_circle() {
        let mut img = RgbImage::from_pixel(64, 64, image::Rgb([255, 255, 255]));
        let mut pen = Pen::new(&mut img);
        pen.fill1(circle(pt(31.3, 30.6), 20.0), [0, 0, 0], 1.0);
        let area = ink_area(&img);
        let expected = std::f32::consts::PI * 400.0;
        assert!((area - expected).abs() < expected * 0.01, "area {area}");
    }

    #[test]
    fn shapes_far_outside_or_degenerate_draw_nothing_and_do_not_panic() {
        let mut img = RgbImage::from_pixel(16, 16, image::Rgb([255, 255, 255]));
        let mut pen = Pen::new(&mut img);
        pen.fill1(rect(-1e30, -1e30, 1e30, -5.0), [0, 0, 0], 1.0);
        pen.fill1(
            vec![pt(f32::NAN, 1.0), pt(3.0, 4.0), pt(5.0, 9.0)],
            [0, 0, 0],
            1.0,
        );
        pen.fill1(circle(pt(100.0, 100.0), 5.0), [0, 0, 0], 1.0);
        pen.line(pt(2.0, 2.0), pt(2.0, 2.0), 0.0, [0, 0, 0], f32::NAN);
        assert!(img.pixels().all(|p| p[0] == 255));
        // A huge shape covering the canvas fills all of it.
        let mut pen = Pen::new(&mut img);
        pen.fill1(rect(-1e9, -1e9, 1e9, 1e9), [0, 0, 0], 1.0);
        assert!(img.pixels().all(|p| p[0] == 0));
    }
}
