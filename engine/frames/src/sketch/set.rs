//! The set behind the figures: a landscape outside, a room inside, a perspective ground grid
//! when the heading does not say; a wall and window or a tree line behind close shots; the
//! floor seen from above; the table under an insert.

use super::raster::{
    INK, PAPER, Pen, Pt, SET_LINE, SET_TONE, SET_TONE_2, circle, ellipse, hull, polygon, pt, rect,
    round_rect,
};
use super::{Ctx, Place, Rng};

/// How far the set reaches (the shot size, coarsely).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Medium wide and closer: a background behind a person.
    Tight,
    Full,
    Wide,
    Extreme,
}

pub(crate) struct SetSpec {
    /// The horizon (eye level of the camera), scene y in px.
    pub horizon: f32,
    pub reach: Reach,
    /// The camera's height as a fraction of a room's height (0 floor, 1 ceiling).
    pub cam: f32,
    /// Where the figures' feet are (px); the set keeps its floor line above them.
    pub feet: Option<f32>,
    /// The side of the frame with the free space (-1 left, 1 right), for windows and trees.
    pub open_side: f32,
    /// A standing person's height in pixels per pixel their feet stand below the horizon
    /// (the scale of everything on the ground), when there are people to measure by.
    pub person_ratio: Option<f32>,
    /// The figures' x positions, which trees keep clear of.
    pub figures_x: Vec<f32>,
}

pub(crate) fn draw_set(pen: &mut Pen<'_>, ctx: &Ctx, spec: &SetSpec, rng: &mut Rng) {
    match (ctx.place, spec.reach) {
        (Place::Int, Reach::Tight) => wall(pen, ctx, spec, rng),
        (Place::Int, _) => room(pen, ctx, spec, rng),
        (Place::Ext, _) => landscape(pen, ctx, spec, rng),
        (Place::Unknown, _) => grid(pen, ctx, spec, rng),
    }
}

/// A horizontal line reaching well past the frame (so a Dutch tilt never shows its ends).
fn horizon_line(pen: &mut Pen<'_>, ctx: &Ctx, y: f32) {
    pen.line(
        pt(-ctx.w, y),
        pt(2.0 * ctx.w, y),
        ctx.set_lw * 1.15,
        SET_LINE,
        1.0,
    );
}

/// The vanishing point's x.
fn vanish_x(ctx: &Ctx, rng: &mut Rng) -> f32 {
    ctx.w * (0.5 + rng.range(-0.12, 0.12))
}

/// No heading: the horizon and a receding ground grid, like a perspective sheet.
fn grid(pen: &mut Pen<'_>, ctx: &Ctx, spec: &SetSpec, rng: &mut Rng) {
    let hz = spec.horizon;
    horizon_line(pen, ctx, hz);
    if spec.reach == Reach::Tight {
        return;
    }
    let vx = vanish_x(ctx, rng);
    let far = 3.0 * ctx.h.max(ctx.w);
    let lw = ctx.set_lw * 0.8;
    for i in -6..=6 {
        let dx = i as f32 * ctx.w * 0.32;
        pen.line(
            pt(vx, hz),
            pt(vx + dx * far / ctx.vis.max(1.0), hz + far),
            lw,
            SET_LINE,
            0.55,
        );
    }
    let depth = ctx.vis * 2.0;
    for j in 1..=6 {
        let t = j as f32 / 6.0;
        let y = hz + depth * t * t * t;
        pen.line(pt(-ctx.w, y), pt(2.0 * ctx.w, y), lw, SET_LINE, 0.55);
    }
}

/// Outside: hills on the horizon, a path, trees sized by their distance.
fn landscape(pen: &mut Pen<'_>, ctx: &Ctx, spec: &SetSpec, rng: &mut Rng) {
    let hz = spec.horizon;
    let vis = ctx.vis;
    let w = ctx.w;
    let hill_h = match spec.reach {
        Reach::Extreme => 0.2,
        Reach::Wide => 0.14,
        Reach::Full => 0.1,
        Reach::Tight => 0.13,
    } * vis;
    // Two ranges for the widest shots, one otherwise.
    let ranges = if spec.reach == Reach::Extreme { 2 } else { 1 };
    for r in 0..ranges {
        let amp = hill_h * if r == 0 { 1.0 } else { 0.55 };
        let (p1, p2, p3) = (
            rng.range(0.0, 6.3),
            rng.range(0.0, 6.3),
            rng.range(0.0, 6.3),
        );
        let mut ridge = Vec::new();
        let steps = 60;
        for i in 0..=steps {
            let t = i as f32 / steps as f32;
            let x = -w + 3.0 * w * t;
            let u = x / w;
            let v = 0.55
                + 0.25 * (u * 4.1 + p1).sin()
                + 0.14 * (u * 9.3 + p2).sin()
                + 0.06 * (u * 23.0 + p3).sin();
            let v = if spec.reach == Reach::Tight {
                v * 0.7
            } else {
                v
            };
            ridge.push(pt(x, hz - amp * v.max(0.05)));
        }
        let mut shape = ridge.clone();
        shape.push(pt(2.0 * w, hz));
        shape.push(pt(-w, hz));
        let tone = if r == 0 { SET_TONE } else { SET_TONE_2 };
        pen.fill1(polygon(shape), tone, 1.0);
        pen.stroke(&ridge, ctx.set_lw, SET_LINE, if r == 0 { 0.8 } else { 1.0 });
    }
    horizon_line(pen, ctx, hz);
    if spec.reach == Reach::Tight {
        tree_line(pen, ctx, hz, rng);
        return;
    }
    // A path winding to the horizon.
    let vx = vanish_x(ctx, rng);
    let far = 4.0 * vis;
    let spread = rng.range(0.35, 0.7) * w;
    let lean = rng.range(-0.5, 0.5) * w;
    for side in [-1.0f32, 1.0] {
        let end = pt(vx + lean + side * spread * 2.5, hz + far);
        pen.line(
            pt(vx + side * w * 0.004, hz),
            end,
            ctx.set_lw * 0.9,
            SET_LINE,
            0.8,
        );
    }
    // A few ground marks, closer together toward the horizon.
    for _ in 0..8 {
        let d = rng.range(0.1, 1.0);
        let y = hz + (vis - hz).max(vis * 0.1) * d * d;
        let x = rng.range(0.0, 1.0) * w;
        let len = (y - hz) * 0.2 + ctx.u * 4.0;
        pen.line(pt(x, y), pt(x + len, y), ctx.set_lw * 0.8, SET_LINE, 0.6);
    }
    // Trees in slots across the frame, clear of the figures, sized by their distance: on a
    // ground plane a tree (about 3.4 people tall) at `d` px below the horizon is
    // 3.4 * ratio * d px tall.
    let ratio = spec.person_ratio.unwrap_or(0.6 / spec.cam.clamp(0.02, 1.0));
    let d_max = match spec.reach {
        Reach::Extreme => 0.05,
        Reach::Wide => 0.1,
        _ => 0.06,
    } * vis;
    let slots = rng.int(4, 6);
    let mut trees: Vec<(f32, f32)> = Vec::new();
    for i in 0..slots {
        if rng.range(0.0, 1.0) < 0.3 {
            continue;
        }
        let x = w * (i as f32 + rng.range(0.15, 0.85)) / slots as f32;
        let d = rng.range(0.08, 1.0) * d_max;
        let h = 3.4 * ratio * d;
        let clear = spec
            .figures_x
            .iter()
            .all(|&fx| (fx - x).abs() > h * 0.35 + w * 0.03);
        if clear {
            trees.push((x, d));
        }
    }
    trees.sort_by(|a, b| a.1.total_cmp(&b.1));
    for (x, d) in trees {
        let h = (3.4 * ratio * d).min(hz.max(vis * 0.2) * 0.85);
        tree(pen, ctx, pt(x, hz + d), h, rng);
    }
}

/// Far trees and bushes along the horizon, behind a close shot.
fn tree_line(pen: &mut Pen<'_>, ctx: &Ctx, hz: f32, rng: &mut Rng) {
    let (w, vis) = (ctx.w, ctx.vis);
    let mut blobs = Vec::new();
    let mut x = -w;
    while x < 2.0 * w && blobs.len() < 200 {
        let r = vis * rng.range(0.05, 0.11);
        blobs.push((pt(x, hz - r * rng.range(0.2, 0.7)), r));
        x += r * rng.range(0.9, 1.6);
    }
    let lw = ctx.set_lw;
    let outline: Vec<_> = blobs.iter().map(|&(c, r)| circle(c, r + lw)).collect();
    pen.fill(&outline, SET_LINE, 1.0);
    let fill: Vec<_> = blobs.iter().map(|&(c, r)| circle(c, r)).collect();
    pen.fill(&fill, SET_TONE, 1.0);
    // The ground in front hides the blobs' lower halves.
    pen.fill1(rect(-w, hz + lw * 0.5, 2.0 * w, 2.0 * ctx.h), PAPER, 1.0);
    horizon_line(pen, ctx, hz);
}

/// A tree: a trunk and a canopy of overlapping circles.
fn tree(pen: &mut Pen<'_>, ctx: &Ctx, base: Pt, h: f32, rng: &mut Rng) {
    if h < 2.0 {
        return;
    }
    let lw = (ctx.set_lw * (h / (ctx.vis * 0.3)).clamp(0.5, 1.2)).max(0.7);
    let trunk = hull(&[
        (base, h * 0.035),
        (pt(base.x, base.y - h * 0.55), h * 0.025),
    ]);
    let canopy: Vec<(Pt, f32)> = (0..4)
        .map(|i| {
            let a = i as f32 / 4.0 * std::f32::consts::TAU + rng.range(0.0, 0.8);
            let r = h * rng.range(0.16, 0.22);
            (
                pt(
                    base.x + a.cos() * h * 0.14,
                    base.y - h * 0.68 + a.sin() * h * 0.12,
                ),
                r,
            )
        })
        .collect();
    pen.shape(&trunk, SET_TONE_2, SET_LINE, lw);
    // The canopy: the outline of the union of its circles, then the wash over it.
    let outline: Vec<_> = canopy.iter().map(|&(c, r)| circle(c, r + lw)).collect();
    pen.fill(&outline, SET_LINE, 1.0);
    let fill: Vec<_> = canopy.iter().map(|&(c, r)| circle(c, r)).collect();
    pen.fill(&fill, SET_TONE_2, 1.0);
}

/// Inside, far enough to see the room: the back wall, the corners receding to the vanishing
/// point, floorboards, a door and a window.
fn room(pen: &mut Pen<'_>, ctx: &Ctx, spec: &SetSpec, rng: &mut Rng) {
    let hz = spec.horizon;
    let vis = ctx.vis;
    let mut hb = match spec.reach {
        Reach::Full => 1.15,
        Reach::Wide => 0.55,
        Reach::Extreme => 0.36,
        Reach::Tight => 1.0,
    } * vis;
    let cam = spec.cam.clamp(0.02, 0.98);
    if let Some(feet) = spec.feet {
        // Figures stand in front of the back wall: its floor line stays above their feet.
        let room_for = (feet - ctx.u * 12.0 - hz) / cam;
        if room_for > vis * 0.15 {
            hb = hb.min(room_for);
        }
    }
    let floor = hz + cam * hb;
    let ceil = hz - (1.0 - cam) * hb;
    let vx = vanish_x(ctx, rng);
    // Wide enough that everyone stands on the floor, not in a side wall: a corner line crosses
    // the figures' feet level at vx + half * (feet - hz) / (floor - hz).
    let mut half = hb * 0.85;
    if let Some(feet) = spec.feet
        && feet > floor
    {
        let reach = spec
            .figures_x
            .iter()
            .map(|&x| (x - vx).abs())
            .fold(0.0, f32::max);
        half = half.max((reach + ctx.w * 0.06) * (floor - hz) / (feet - hz));
    }
    let bw = half * 2.0;
    let (x0, x1) = (vx - bw / 2.0, vx + bw / 2.0);
    let lw = ctx.set_lw;
    pen.fill1(rect(x0, ceil, x1, floor), SET_TONE, 1.0);
    let corners = [pt(x0, ceil), pt(x1, ceil), pt(x1, floor), pt(x0, floor)];
    let vp = pt(vx, hz);
    for &c in &corners {
        pen.line(c, c + (c - vp) * 12.0, lw, SET_LINE, 1.0);
    }
    pen.stroke_closed(&corners, lw, SET_LINE, 1.0);
    // Floorboards from the back wall toward the camera.
    for i in 1..8 {
        let p = pt(x0 + bw * i as f32 / 8.0, floor);
        pen.line(p, p + (p - vp) * 12.0, lw * 0.7, SET_LINE, 0.45);
    }
    // A door on one side of the back wall, a window on the other.
    let door_left = rng.range(0.0, 1.0) < 0.5;
    let dw = hb * 0.27;
    let dx = if door_left {
        x0 + bw * 0.12
    } else {
        x1 - bw * 0.12 - dw
    };
    let door = [
        pt(dx, floor),
        pt(dx, floor - hb * 0.68),
        pt(dx + dw, floor - hb * 0.68),
        pt(dx + dw, floor),
    ];
    pen.stroke(&door, lw, SET_LINE, 1.0);
    let knob = pt(
        if door_left {
            dx + dw * 0.82
        } else {
            dx + dw * 0.18
        },
        floor - hb * 0.33,
    );
    pen.fill1(circle(knob, lw * 1.2), SET_LINE, 1.0);
    let ww = hb * 0.42;
    let wx = if door_left {
        x1 - bw * 0.14 - ww
    } else {
        x0 + bw * 0.14
    };
    window(pen, ctx, wx, floor - hb * 0.72, wx + ww, floor - hb * 0.34);
}

/// A window: the sky through it is the paper, a frame and a cross of mullions.
fn window(pen: &mut Pen<'_>, ctx: &Ctx, x0: f32, y0: f32, x1: f32, y1: f32) {
    let lw = ctx.set_lw;
    pen.fill1(rect(x0, y0, x1, y1), PAPER, 1.0);
    let r = [pt(x0, y0), pt(x1, y0), pt(x1, y1), pt(x0, y1)];
    pen.stroke_closed(&r, lw * 1.6, SET_LINE, 1.0);
    let mx = (x0 + x1) / 2.0;
    let my = (y0 + y1) / 2.0;
    pen.line(pt(mx, y0), pt(mx, y1), lw, SET_LINE, 1.0);
    pen.line(pt(x0, my), pt(x1, my), lw, SET_LINE, 1.0);
    // The sill.
    pen.line(
        pt(x0 - lw * 3.0, y1 + lw * 1.5),
        pt(x1 + lw * 3.0, y1 + lw * 1.5),
        lw * 1.4,
        SET_LINE,
        1.0,
    );
}

/// Inside, close: a wall wash and a window on the open side, a picture on the other.
fn wall(pen: &mut Pen<'_>, ctx: &Ctx, spec: &SetSpec, rng: &mut Rng) {
    let (w, vis) = (ctx.w, ctx.vis);
    pen.fill1(rect(-w, -ctx.h, 2.0 * w, 2.0 * ctx.h), SET_TONE, 1.0);
    let eye = spec.horizon;
    let cx = w * (0.5 + spec.open_side * rng.range(0.26, 0.34));
    let half = vis * rng.range(0.17, 0.22);
    window(
        pen,
        ctx,
        cx - half,
        eye - vis * 0.3,
        cx + half,
        eye + vis * 0.28,
    );
    // A framed picture on the other side, partly behind the figure.
    let px = w * (0.5 - spec.open_side * rng.range(0.3, 0.42));
    let ph = vis * 0.16;
    let r = [
        pt(px - ph * 0.7, eye - vis * 0.24),
        pt(px + ph * 0.7, eye - vis * 0.24),
        pt(px + ph * 0.7, eye - vis * 0.24 + ph),
        pt(px - ph * 0.7, eye - vis * 0.24 + ph),
    ];
    pen.stroke_closed(&r, ctx.set_lw * 1.3, SET_LINE, 1.0);
}

/// The ground seen from straight above: floorboards inside, grass and a path outside, tiles
/// otherwise. `unit` is the size of a person's head in pixels (the boards scale with it).
pub(crate) fn floor_from_above(pen: &mut Pen<'_>, ctx: &Ctx, unit: f32, rng: &mut Rng) {
    let (w, h) = (ctx.w, ctx.h);
    let lw = ctx.set_lw * 0.9;
    match ctx.place {
        Place::Int => {
            let board = (unit * 1.1).max(ctx.u * 10.0);
            let n = ((w / board).ceil() as i32 + 2).min(400);
            for i in -1..n {
                let x = i as f32 * board;
                pen.line(pt(x, -h), pt(x, 2.0 * h), lw, SET_LINE, 0.7);
                // Staggered board ends.
                let mut y = -rng.range(0.0, 4.0) * board;
                let step = board * 5.0;
                let mut guard = 0;
                while y < h * 1.2 && guard < 200 {
                    pen.line(pt(x, y), pt(x + board, y), lw * 0.8, SET_LINE, 0.5);
                    y += step;
                    guard += 1;
                }
            }
        }
        Place::Ext => {
            pen.fill1(rect(-w, -h, 2.0 * w, 2.0 * h), SET_TONE, 1.0);
            let n = 60;
            for _ in 0..n {
                let p = pt(rng.range(0.0, w), rng.range(0.0, h));
                let l = (unit * 0.25).max(ctx.u * 4.0);
                pen.stroke(
                    &[p + pt(-l * 0.4, -l), p, p + pt(l * 0.4, -l)],
                    lw * 0.8,
                    SET_LINE,
                    0.7,
                );
            }
        }
        Place::Unknown => {
            let tile = (unit * 2.4).max(ctx.u * 16.0);
            let nx = ((w / tile).ceil() as i32 + 1).min(400);
            let ny = ((h / tile).ceil() as i32 + 1).min(400);
            for i in 0..=nx {
                let x = i as f32 * tile;
                pen.line(pt(x, -h), pt(x, 2.0 * h), lw, SET_LINE, 0.6);
            }
            for j in 0..=ny {
                let y = j as f32 * tile;
                pen.line(pt(-w, y), pt(2.0 * w, y), lw, SET_LINE, 0.6);
            }
        }
    }
}

/// The table an insert lies on, and the prop itself: a card, phone or sheet (a rounded
/// rectangle with lines), or a cup or bottle when the subject says so.
pub(crate) fn insert_prop(pen: &mut Pen<'_>, ctx: &Ctx, subject: &str, rng: &mut Rng) -> Pt {
    let (w, vis) = (ctx.w, ctx.vis);
    pen.fill1(rect(-w, -ctx.h, 2.0 * w, 2.0 * ctx.h), SET_TONE, 1.0);
    // Wood grain.
    for i in 0..9 {
        let y = vis * (i as f32 + rng.range(0.2, 0.8)) / 8.0;
        let wob = rng.range(-0.03, 0.03) * vis;
        pen.stroke(
            &[pt(-w * 0.1, y), pt(w * 0.4, y + wob), pt(w * 1.1, y - wob)],
            ctx.set_lw * 0.7,
            SET_LINE,
            0.35,
        );
    }
    let lower = subject.to_lowercase();
    let round = [
        "cup", "mug", "glass", "bottle", "can", "jar", "vase", "coffee", "drink",
    ]
    .iter()
    .any(|k| lower.contains(k));
    let c = pt(w * 0.5, vis * 0.5);
    let lw = ctx.lw;
    if round {
        let r = vis.min(w) * 0.2;
        let top = c.y - r * 1.1;
        let bottom = c.y + r * 0.9;
        // Shadow, body, rim.
        pen.fill1(
            ellipse(pt(c.x + r * 0.35, bottom + r * 0.1), r * 1.2, r * 0.35, 0.0),
            SET_TONE_2,
            1.0,
        );
        let body = hull(&[
            (pt(c.x - r * 0.65, top), 1.0),
            (pt(c.x + r * 0.65, top), 1.0),
            (pt(c.x - r * 0.55, bottom), r * 0.18),
            (pt(c.x + r * 0.55, bottom), r * 0.18),
        ]);
        pen.shape(&body, PAPER, INK, lw);
        let rim = ellipse(pt(c.x, top), r * 0.66, r * 0.2, 0.0);
        pen.shape(&rim, SET_TONE_2, INK, lw);
        return pt(c.x, bottom + r * 0.3);
    }
    let pw = (w * 0.42).min(vis * 0.9);
    let ph = (vis * 0.52).min(pw * 1.1);
    let tilt = rng.range(-0.12, 0.12);
    let saved = pen.xf;
    pen.xf = super::raster::Xf::rotate(c, tilt);
    let (x0, y0, x1, y1) = (
        c.x - pw / 2.0,
        c.y - ph / 2.0,
        c.x + pw / 2.0,
        c.y + ph / 2.0,
    );
    let off = pt(pw * 0.03, ph * 0.04);
    pen.fill1(
        round_rect(x0 + off.x, y0 + off.y, x1 + off.x, y1 + off.y, pw * 0.06),
        SET_TONE_2,
        1.0,
    );
    let body = round_rect(x0, y0, x1, y1, pw * 0.06);
    pen.shape(&body, PAPER, INK, lw);
    let phone = ["phone", "screen", "tablet", "laptop", "monitor", "tv"]
        .iter()
        .any(|k| lower.contains(k));
    if phone {
        let inset = pw * 0.08;
        pen.shape(
            &round_rect(
                x0 + inset,
                y0 + inset,
                x1 - inset,
                y1 - inset * 2.2,
                pw * 0.02,
            ),
            SET_TONE,
            INK,
            lw * 0.7,
        );
    } else {
        for i in 0..6 {
            let y = y0 + ph * (0.2 + 0.1 * i as f32);
            let end = if i == 5 { 0.55 } else { rng.range(0.75, 0.9) };
            pen.line(
                pt(x0 + pw * 0.1, y),
                pt(x0 + pw * end, y),
                lw * 0.6,
                SET_LINE,
                1.0,
            );
        }
    }
    pen.xf = saved;
    pt(c.x, y1 + ph * 0.08)
}

/// A soft dark edge around the frame: someone's point of view.
pub(crate) fn vignette(img: &mut image::RgbImage, vis: f32) {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return;
    }
    let cx = w as f32 / 2.0;
    let cy = vis / 2.0;
    let rx = w as f32 * 0.5;
    let ry = (vis * 0.5).max(1.0);
    let (d0, d1) = (0.8f32, 1.32f32);
    let target = [f32::from(INK[0]), f32::from(INK[1]), f32::from(INK[2])];
    let stride = w as usize * 3;
    let buf: &mut [u8] = img.as_mut();
    for y in 0..h as usize {
        let dy = (y as f32 + 0.5 - cy) / ry;
        let row = &mut buf[y * stride..(y + 1) * stride];
        // Inside the inner ellipse nothing changes: skip that stretch of the row.
        let inner = d0 * d0 - dy * dy;
        let (skip0, skip1) = if inner > 0.0 {
            let half = inner.sqrt() * rx;
            (
                (cx - half).max(0.0) as usize,
                ((cx + half) as usize).min(w as usize),
            )
        } else {
            (0, 0)
        };
        for x in (0..skip0).chain(skip1..w as usize) {
            let dx = (x as f32 + 0.5 - cx) / rx;
            let d = (dx * dx + dy * dy).sqrt();
            let t = ((d - d0) / (d1 - d0)).clamp(0.0, 1.0);
            let a = t * t * (3.0 - 2.0 * t) * 0.8;
            let px = &mut row[x * 3..x * 3 + 3];
            for k in 0..3 {
                let v = f32::from(px[k]);
                px[k] = (v + (target[k] - v) * a + 0.5) as u8;
            }
        }
    }
}
