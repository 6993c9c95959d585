//! Figures: standing people seen from the front or three-quarters, the back of a head and
//! shoulder (over-the-shoulder foreground), people seen from straight above, and the eyes of an
//! extreme close-up.
//!
//! A figure is built in *head units* (a head is one unit tall, a person 7.5), foreshortened for
//! low and high angles, then scaled to pixels. Each body group is drawn as one silhouette: the
//! union of its parts grown by the line width in ink, then the parts in their tones on top, so
//! the outline follows the whole group without seams.

use std::f32::consts::PI;

use super::raster::{
    FG_DARK, FIG_TONE, HAIR, INK, PAPER, Path, Pen, Pt, Rgb, SET_TONE_2, arc_chord, arc_points,
    ellipse, hull, pt,
};

/// A person's height in head units.
pub(crate) const BODY_H: f32 = 7.5;

/// One convex part of a silhouette.
pub(crate) enum Shape {
    /// The convex hull of circles (centre, radius).
    Hull(Vec<(Pt, f32)>),
    Ellipse {
        c: Pt,
        rx: f32,
        ry: f32,
        rot: f32,
    },
    /// An elliptical cap closed by its chord (hair).
    Arc {
        c: Pt,
        rx: f32,
        ry: f32,
        a0: f32,
        a1: f32,
    },
}

impl Shape {
    fn path(&self, grow: f32) -> Path {
        match self {
            Shape::Hull(circles) => {
                let grown: Vec<(Pt, f32)> = circles.iter().map(|&(c, r)| (c, r + grow)).collect();
                hull(&grown)
            }
            Shape::Ellipse { c, rx, ry, rot } => ellipse(*c, rx + grow, ry + grow, *rot),
            Shape::Arc { c, rx, ry, a0, a1 } => arc_chord(*c, rx + grow, ry + grow, *a0, *a1),
        }
    }
}

/// Parts drawn as one outlined silhouette.
pub(crate) struct Group {
    parts: Vec<(Shape, Rgb)>,
    outline: bool,
}

/// Lines and dots drawn over the silhouettes (faces, collars).
pub(crate) enum Detail {
    Stroke(Vec<Pt>, f32, Rgb),
    Fill(Path, Rgb),
}

pub(crate) struct Figure {
    groups: Vec<Group>,
    details: Vec<Detail>,
    /// The top of the head and its centre and half-width, for the name label.
    pub head_top: Pt,
    pub head_c: Pt,
    pub head_r: f32,
}

impl Figure {
    pub fn draw(&self, pen: &mut Pen<'_>, lw: f32) {
        for g in &self.groups {
            if g.outline {
                let grown: Vec<Path> = g.parts.iter().map(|(s, _)| s.path(lw)).collect();
                pen.fill(&grown, INK, 1.0);
            }
            for (s, tone) in &g.parts {
                pen.fill1(s.path(0.0), *tone, 1.0);
            }
        }
        for d in &self.details {
            match d {
                Detail::Stroke(pts, w, col) => pen.stroke(pts, *w, *col, 1.0),
                Detail::Fill(path, col) => pen.fill(std::slice::from_ref(path), *col, 1.0),
            }
        }
    }
}

/// Where a standing figure goes and how it is seen.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stance {
    /// The body's centre line (px).
    pub x: f32,
    /// The top of the head (px).
    pub top: f32,
    /// Pixels per head unit.
    pub s: f32,
    /// Foreshortening: > 0 seen from below (legs grow, head shrinks), < 0 from above.
    pub fs: f32,
    /// -1 turned to screen left, 1 to screen right, 0 facing the camera.
    pub facing: f32,
    /// Draw the contact shadow under the feet.
    pub shadow: bool,
    /// Further back in a group: a shade darker so overlapping figures separate.
    pub back: bool,
}

/// The height (head units, from the top of the head) where body height `by` lands once
/// foreshortened by `fs`. Keeps the whole body `BODY_H` tall.
pub(crate) fn warp_y(by: f32, fs: f32) -> f32 {
    by + fs * (by * by / (2.0 * BODY_H) - by / 2.0)
}

struct Body {
    x: f32,
    top: f32,
    s: f32,
    fs: f32,
}

impl Body {
    fn k(&self, by: f32) -> f32 {
        1.0 + self.fs * (by / BODY_H - 0.5)
    }

    fn p(&self, bx: f32, by: f32) -> Pt {
        pt(
            self.x + bx * self.k(by) * self.s,
            self.top + warp_y(by, self.fs) * self.s,
        )
    }

    fn c(&self, bx: f32, by: f32, br: f32) -> (Pt, f32) {
        (self.p(bx, by), br * self.k(by) * self.s)
    }
}

/// A standing person, head to toe (what the frame crops is the shot size).
pub(crate) fn standing(st: &Stance, lw: f32) -> Figure {
    let b = Body {
        x: st.x,
        top: st.top,
        s: st.s,
        fs: st.fs,
    };
    let f = st.facing.clamp(-1.0, 1.0);
    let turned = f != 0.0;
    let sw = if turned { 0.84 } else { 1.0 };
    let tone = if st.back {
        shade(FIG_TONE, 0.9)
    } else {
        FIG_TONE
    };
    let hair = if st.back { shade(HAIR, 0.92) } else { HAIR };
    let mut groups = Vec::new();

    if st.shadow {
        let (c, r) = b.c(0.1 * f, 7.42, 1.0);
        groups.push(Group {
            parts: vec![(
                Shape::Ellipse {
                    c,
                    rx: r * 1.25,
                    ry: r * 0.22,
                    rot: 0.0,
                },
                SET_TONE_2,
            )],
            outline: false,
        });
    }

    // Legs and feet.
    let mut legs = Vec::new();
    for side in [-1.0f32, 1.0] {
        let hip = b.c(side * 0.27, 3.75, 0.31);
        let knee = b.c(side * 0.3 + 0.04 * f, 5.55, 0.21);
        let ankle = b.c(side * 0.31, 7.12, 0.13);
        let toe_dx = if turned { 0.32 * f } else { 0.14 * side };
        legs.push((Shape::Hull(vec![hip, knee]), tone));
        legs.push((Shape::Hull(vec![knee, ankle]), tone));
        legs.push((
            Shape::Hull(vec![
                b.c(side * 0.31, 7.3, 0.12),
                b.c(side * 0.31 + toe_dx, 7.38, 0.1),
            ]),
            tone,
        ));
    }
    groups.push(Group {
        parts: legs,
        outline: true,
    });

    // The far arm (three-quarter view) sits behind the torso.
    let arm = |side: f32| -> Vec<(Shape, Rgb)> {
        let shoulder = b.c(side * 0.8 * sw, 1.8, 0.2);
        let elbow = b.c(side * 0.9 * sw + 0.08 * f, 2.9, 0.16);
        let wrist = b.c(side * 0.86 * sw + 0.12 * f, 3.85, 0.12);
        let hand = b.c(side * 0.86 * sw + 0.14 * f, 4.05, 0.14);
        vec![
            (Shape::Hull(vec![shoulder, elbow]), tone),
            (Shape::Hull(vec![elbow, wrist]), tone),
            (Shape::Hull(vec![hand]), tone),
        ]
    };
    if turned {
        groups.push(Group {
            parts: arm(f),
            outline: true,
        });
    }

    // Torso (sloping shoulders, a waist, hips), neck and head as one silhouette.
    let mut body = vec![
        (
            Shape::Hull(vec![
                b.c(-0.3, 1.3, 0.2),
                b.c(0.3, 1.3, 0.2),
                b.c(-0.76 * sw, 1.66, 0.25),
                b.c(0.76 * sw, 1.66, 0.25),
                b.c(-0.58 * sw, 2.5, 0.3),
                b.c(0.58 * sw, 2.5, 0.3),
                b.c(-0.42, 3.2, 0.28),
                b.c(0.42, 3.2, 0.28),
                b.c(-0.45, 3.72, 0.3),
                b.c(0.45, 3.72, 0.3),
            ]),
            tone,
        ),
        (
            Shape::Hull(vec![b.c(0.03 * f, 0.9, 0.17), b.c(0.0, 1.3, 0.19)]),
            tone,
        ),
    ];
    let (head_c, head_ry) = b.c(0.05 * f, 0.52, 0.53);
    let head_rx = head_ry * 0.4 / 0.53;
    body.push((
        Shape::Ellipse {
            c: head_c,
            rx: head_rx,
            ry: head_ry,
            rot: 0.0,
        },
        tone,
    ));
    // Hair: a cap over the top and, turned, a piece down the back of the head.
    let (hair_c, hair_ry) = b.c(-0.02 * f, 0.48, 0.55);
    let hair_rx = hair_ry * 0.43 / 0.55;
    let mirror = |(a0, a1): (f32, f32)| {
        if f < 0.0 {
            (PI - a1, PI - a0)
        } else {
            (a0, a1)
        }
    };
    let mut caps = vec![mirror(if turned {
        (1.05 * PI, 1.85 * PI)
    } else {
        (1.12 * PI, 1.88 * PI)
    })];
    if turned {
        caps.push(mirror((0.62 * PI, 1.2 * PI)));
    }
    for (a0, a1) in caps {
        body.push((
            Shape::Arc {
                c: hair_c,
                rx: hair_rx,
                ry: hair_ry,
                a0,
                a1,
            },
            hair,
        ));
    }
    groups.push(Group {
        parts: body,
        outline: true,
    });

    // The near arm in front (both arms when facing the camera).
    if turned {
        groups.push(Group {
            parts: arm(-f),
            outline: true,
        });
    } else {
        let mut arms = arm(-1.0);
        arms.extend(arm(1.0));
        groups.push(Group {
            parts: arms,
            outline: true,
        });
    }

    let mut details = Vec::new();
    let head_px = head_ry * 2.0;
    let dw = (lw * 0.75).min(head_px * 0.035).max(0.6);
    if head_px > 40.0 {
        face(&mut details, &b, f, dw);
    }
    if head_px > 14.0 {
        // A collar: where the neck meets the shoulders.
        details.push(Detail::Stroke(
            vec![b.p(-0.22, 1.3), b.p(0.02 * f, 1.58), b.p(0.22, 1.3)],
            dw,
            INK,
        ));
    }

    Figure {
        groups,
        details,
        head_top: pt(head_c.x, head_c.y - head_ry),
        head_c,
        head_r: head_rx,
    }
}

/// Eyes, brows, nose, mouth and an ear, turned with the head.
fn face(details: &mut Vec<Detail>, b: &Body, f: f32, w: f32) {
    let eye_r = 0.045 * b.s * b.k(0.5);
    let eyes: [f32; 2] = if f == 0.0 {
        [-0.15, 0.15]
    } else {
        [0.1 * f, 0.3 * f]
    };
    for ex in eyes {
        let c = b.p(ex, 0.5);
        details.push(Detail::Fill(ellipse(c, eye_r, eye_r * 0.75, 0.0), INK));
        details.push(Detail::Stroke(
            vec![b.p(ex - 0.08, 0.41), b.p(ex, 0.39), b.p(ex + 0.08, 0.41)],
            w,
            INK,
        ));
    }
    if f == 0.0 {
        details.push(Detail::Stroke(
            vec![b.p(0.0, 0.55), b.p(0.03, 0.68), b.p(-0.04, 0.7)],
            w,
            INK,
        ));
        details.push(Detail::Stroke(
            vec![b.p(-0.1, 0.83), b.p(0.1, 0.83)],
            w,
            INK,
        ));
    } else {
        details.push(Detail::Stroke(
            vec![b.p(0.27 * f, 0.52), b.p(0.37 * f, 0.67), b.p(0.27 * f, 0.7)],
            w,
            INK,
        ));
        details.push(Detail::Stroke(
            vec![b.p(0.12 * f, 0.83), b.p(0.26 * f, 0.82)],
            w,
            INK,
        ));
        let ear = b.c(-0.12 * f, 0.57, 0.085);
        details.push(Detail::Stroke(
            arc_points(ear.0, ear.1 * 0.7, ear.1, 0.0, 2.0 * PI),
            w,
            INK,
        ));
    }
}

/// The back of a head and a shoulder, close to the camera, cut by the frame: the foreground of
/// an over-the-shoulder shot. `inward` points toward the frame's centre.
pub(crate) fn back_of_head(head_c: Pt, s: f32, inward: f32) -> Figure {
    let q = |bx: f32, by: f32, br: f32| (pt(head_c.x + bx * inward * s, head_c.y + by * s), br * s);
    let dark = FG_DARK;
    let parts = vec![
        (
            Shape::Hull(vec![
                q(0.55, 1.15, 0.32),
                q(-0.9, 1.05, 0.4),
                q(1.0, 3.2, 0.5),
                q(-1.6, 3.2, 0.6),
            ]),
            dark,
        ),
        (Shape::Hull(vec![q(0.05, 0.4, 0.3), q(0.0, 1.1, 0.3)]), dark),
        (
            Shape::Ellipse {
                c: head_c,
                rx: 0.44 * s,
                ry: 0.55 * s,
                rot: 0.0,
            },
            dark,
        ),
    ];
    Figure {
        groups: vec![Group {
            parts,
            outline: true,
        }],
        details: Vec::new(),
        head_top: pt(head_c.x, head_c.y - 0.55 * s),
        head_c,
        head_r: 0.44 * s,
    }
}

/// A person seen from straight above: shoulders, head (mostly hair), arms, the tips of the feet.
/// `facing` is the direction they face, in radians on screen (0 = right, π/2 = down).
pub(crate) fn top_view(c: Pt, s: f32, facing: f32) -> Figure {
    let (sin, cos) = facing.sin_cos();
    let fwd = pt(cos, sin);
    let right = pt(-sin, cos);
    // bx across the shoulders, by forward.
    let q = |bx: f32, by: f32, br: f32| (c + right * (bx * s) + fwd * (by * s), br * s);
    let mut groups = Vec::new();
    let mut feet = Vec::new();
    for side in [-1.0, 1.0] {
        feet.push((
            Shape::Hull(vec![q(side * 0.28, 0.35, 0.12), q(side * 0.3, 0.72, 0.13)]),
            FIG_TONE,
        ));
    }
    groups.push(Group {
        parts: feet,
        outline: true,
    });
    let mut arms = Vec::new();
    for side in [-1.0, 1.0] {
        arms.push((
            Shape::Hull(vec![q(side * 0.86, 0.0, 0.2), q(side * 1.0, 0.5, 0.16)]),
            FIG_TONE,
        ));
    }
    groups.push(Group {
        parts: arms,
        outline: true,
    });
    let rot = facing - std::f32::consts::FRAC_PI_2;
    groups.push(Group {
        parts: vec![(
            Shape::Ellipse {
                c,
                rx: 1.0 * s,
                ry: 0.42 * s,
                rot,
            },
            FIG_TONE,
        )],
        outline: true,
    });
    let (hc, hr) = q(0.0, 0.04, 0.4);
    let (nose, nr) = q(0.0, 0.42, 0.09);
    groups.push(Group {
        parts: vec![
            (
                Shape::Ellipse {
                    c: nose,
                    rx: nr * 1.2,
                    ry: nr,
                    rot: facing,
                },
                FIG_TONE,
            ),
            (
                Shape::Ellipse {
                    c: hc,
                    rx: hr * 1.08,
                    ry: hr,
                    rot: facing,
                },
                HAIR,
            ),
        ],
        outline: true,
    });
    Figure {
        groups,
        details: Vec::new(),
        head_top: pt(hc.x, hc.y - hr),
        head_c: hc,
        head_r: hr,
    }
}

/// The eyes of an extreme close-up: `e` is one eye's width, the face fills the frame.
pub(crate) fn eyes_ecu(cx: f32, eye_y: f32, e: f32, lw: f32) -> Figure {
    let face_c = pt(cx, eye_y + 0.7 * e);
    let groups = vec![Group {
        parts: vec![
            (
                Shape::Ellipse {
                    c: face_c,
                    rx: 2.2 * e,
                    ry: 3.0 * e,
                    rot: 0.0,
                },
                FIG_TONE,
            ),
            (
                Shape::Arc {
                    c: face_c,
                    rx: 2.3 * e,
                    ry: 3.1 * e,
                    a0: 1.2 * PI,
                    a1: 1.8 * PI,
                },
                HAIR,
            ),
        ],
        outline: true,
    }];
    let mut details = Vec::new();
    let w = lw.max(e * 0.02);
    for side in [-1.0f32, 1.0] {
        let inner = pt(cx + side * 0.48 * e, eye_y + 0.04 * e);
        let outer = pt(cx + side * 1.42 * e, eye_y - 0.03 * e);
        let lid = |bulge: f32| -> Vec<Pt> {
            (0..=16)
                .map(|i| {
                    let t = i as f32 / 16.0;
                    let p = inner + (outer - inner) * t;
                    pt(p.x, p.y + bulge * 4.0 * t * (1.0 - t))
                })
                .collect()
        };
        let upper = lid(-0.34 * e);
        let lower = lid(0.2 * e);
        let mut white = upper.clone();
        white.extend(lower.iter().rev().copied());
        details.push(Detail::Fill(super::raster::polygon(white), PAPER));
        let iris = pt(cx + side * 0.92 * e, eye_y - 0.05 * e);
        details.push(Detail::Fill(ellipse(iris, 0.23 * e, 0.23 * e, 0.0), HAIR));
        details.push(Detail::Fill(ellipse(iris, 0.1 * e, 0.1 * e, 0.0), INK));
        details.push(Detail::Fill(
            ellipse(iris + pt(-0.07 * e, -0.07 * e), 0.04 * e, 0.04 * e, 0.0),
            PAPER,
        ));
        details.push(Detail::Stroke(upper.clone(), w * 1.8, INK));
        details.push(Detail::Stroke(lower, w * 0.9, INK));
        // The crease above the lid and the brow.
        let crease: Vec<Pt> = upper[3..14]
            .iter()
            .map(|p| pt(p.x, p.y - 0.13 * e))
            .collect();
        details.push(Detail::Stroke(crease, w * 0.8, INK));
        let brow: Vec<Pt> = (0..=12)
            .map(|i| {
                let t = i as f32 / 12.0;
                let x = cx + side * (0.42 + 1.12 * t) * e;
                pt(x, eye_y - (0.5 + 0.14 * (PI * t * 0.8).sin()) * e)
            })
            .collect();
        details.push(Detail::Stroke(brow, w * 2.6, HAIR));
    }
    // The bridge of the nose, one side shaded by a soft line, and the tip's wings below.
    let side = 1.0;
    details.push(Detail::Stroke(
        (0..=10)
            .map(|i| {
                let t = i as f32 / 10.0;
                pt(
                    cx + side * (0.3 - 0.06 * t) * e,
                    eye_y + (0.15 + 1.2 * t) * e,
                )
            })
            .collect(),
        w,
        HAIR,
    ));
    for side in [-1.0f32, 1.0] {
        details.push(Detail::Stroke(
            arc_points(
                pt(cx + side * 0.3 * e, eye_y + 1.55 * e),
                0.16 * e,
                0.14 * e,
                0.5 * PI - side * 0.5 * PI,
                0.5 * PI + side * 0.9 * PI,
            ),
            w * 1.2,
            INK,
        ));
    }
    Figure {
        groups,
        details,
        head_top: pt(cx, eye_y - 2.4 * e),
        head_c: pt(cx, eye_y),
        head_r: 2.2 * e,
    }
}

/// `c` lightened (k > 1) or darkened (k < 1).
pub(crate) fn shade(c: Rgb, k: f32) -> Rgb {
    c.map(|v| (f32::from(v) * k).clamp(0.0, 255.0) as u8)
}
