//! Checking a plan against its scene, and repairing what can be repaired.
//!
//! **Subjects.** A subject is split at `and`, `,`, `&` and `/` into parts, and a trailing `'s`
//! is dropped. A part is taken to name a character when it is written in capitals (at least two
//! letters, as screenplays write characters) or when it is the name or alias of any character of
//! the script; such a part must name a character present in the scene (a speaker, or named in
//! CAPS in its action), matched by cue name, alias, or the first word of the name (`Mara` for
//! `MARA JONES`). Every other part (`the letter`, `Kitchen`, `the crowd`) is an object or place
//! and is fine; a part in capitals equal to the scene's location is a place too.
//!
//! **Durations.** A shot must last at least three quarters of the time its lines take to say
//! (core's reading speed plus a breath each; capped at the schema's 60 s) and at most twice that
//! plus 15 s (capped at 60 s): a silent shot up to 15 s, a line of ten words up to ~24 s.

use std::fmt;

use previz_core::cue_key;

use crate::engine::SceneInput;
use crate::plan::{self, PlannedShot, ScenePlan};
use crate::rules;

/// What is wrong with a plan. `shot` is a 0-based index into the plan; `line` is 1-based.
#[derive(Clone, Debug, PartialEq)]
pub enum Issue {
    EmptyPlan,
    TooManyShots {
        count: usize,
    },
    LineOutOfRange {
        shot: usize,
        line: u32,
        lines: usize,
    },
    LineUncovered {
        line: u32,
        speaker: String,
    },
    UnknownCharacter {
        shot: usize,
        name: String,
    },
    TooShort {
        shot: usize,
        seconds: f64,
        needed: f64,
    },
    TooLong {
        shot: usize,
        seconds: f64,
        most: f64,
    },
    LensOutOfRange {
        shot: usize,
        lens_mm: u32,
    },
    TextTooLong {
        shot: usize,
        field: &'static str,
        chars: usize,
        most: usize,
    },
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Issue::EmptyPlan => write!(f, "the plan has no shots"),
            Issue::TooManyShots { count } => {
                write!(
                    f,
                    "the plan has {count} shots; at most {} are allowed",
                    plan::MAX_SHOTS
                )
            }
            Issue::LineOutOfRange { shot, line, lines } => write!(
                f,
                "shot {} covers line {line}, but the scene has {lines} speeches",
                shot + 1
            ),
            Issue::LineUncovered { line, speaker } => {
                write!(f, "line {line} ({speaker}) is not covered by any shot")
            }
            Issue::UnknownCharacter { shot, name } => write!(
                f,
                "shot {} names '{name}', who is not in this scene",
                shot + 1
            ),
            Issue::TooShort {
                shot,
                seconds,
                needed,
            } => write!(
                f,
                "shot {} lasts {seconds:.1} s but its lines take {needed:.1} s to say",
                shot + 1
            ),
            Issue::TooLong {
                shot,
                seconds,
                most,
            } => write!(
                f,
                "shot {} lasts {seconds:.1} s; at most {most:.1} s is plausible for its lines",
                shot + 1
            ),
            Issue::LensOutOfRange { shot, lens_mm } => write!(
                f,
                "shot {} has a {lens_mm} mm lens; lenses run {}-{} mm",
                shot + 1,
                plan::LENS_MM.0,
                plan::LENS_MM.1
            ),
            Issue::TextTooLong {
                shot,
                field,
                chars,
                most,
            } => write!(
                f,
                "shot {}'s {field} has {chars} characters; at most {most}",
                shot + 1
            ),
        }
    }
}

/// The time `lines` (1-based, out-of-range ignored) take to say.
fn needed_seconds(input: &SceneInput, lines: &[u32]) -> f64 {
    lines
        .iter()
        .filter_map(|&n| usize::try_from(n).ok()?.checked_sub(1))
        .filter_map(|i| input.lines.get(i))
        .map(|l| rules::speech_seconds(&l.text, input.rate))
        .sum()
}

/// The plausible duration range of a shot covering `lines`.
#[must_use]
pub fn duration_bounds(input: &SceneInput, lines: &[u32]) -> (f64, f64) {
    let needed = needed_seconds(input, lines);
    let least = (needed * 0.75).clamp(plan::DURATION_S.0, plan::DURATION_S.1);
    let most = (needed * 2.0 + 15.0).min(plan::DURATION_S.1);
    (least, most)
}

fn subject_parts(subject: &str) -> Vec<String> {
    subject
        .replace(" and ", ",")
        .replace(" AND ", ",")
        .split([',', '&', '/'])
        .map(|p| {
            let p = p.trim();
            let p = p
                .strip_suffix("'s")
                .or_else(|| p.strip_suffix("'S"))
                .unwrap_or(p);
            p.trim().to_owned()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

fn is_caps(part: &str) -> bool {
    let letters: Vec<char> = part.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() >= 2 && letters.iter().all(|c| c.is_uppercase())
}

/// Characters a subject names who are not in the scene (see the module docs).
#[must_use]
pub fn unknown_characters(input: &SceneInput, subject: &str) -> Vec<String> {
    let location = cue_key(&input.scene.heading.location);
    subject_parts(subject)
        .into_iter()
        .filter(|part| {
            let key = cue_key(part);
            let present = input.characters.iter().any(|c| {
                c.answers_to(part) || cue_key(&c.name).split(' ').next() == Some(key.as_str())
            });
            if present {
                return false;
            }
            let known = input.cast.iter().any(|c| c.answers_to(part));
            (known || is_caps(part)) && key != location
        })
        .collect()
}

/// Everything wrong with `plan` for this scene (empty when it is fine).
#[must_use]
pub fn validate(plan: &ScenePlan, input: &SceneInput) -> Vec<Issue> {
    let mut issues = Vec::new();
    if plan.shots.is_empty() {
        issues.push(Issue::EmptyPlan);
    }
    if plan.shots.len() > plan::MAX_SHOTS {
        issues.push(Issue::TooManyShots {
            count: plan.shots.len(),
        });
    }
    let count = input.lines.len();
    let mut covered = vec![false; count];
    for (i, shot) in plan.shots.iter().enumerate() {
        for &line in &shot.lines {
            match usize::try_from(line)
                .ok()
                .and_then(|l| l.checked_sub(1))
                .filter(|&l| l < count)
            {
                Some(l) => covered[l] = true,
                None => issues.push(Issue::LineOutOfRange {
                    shot: i,
                    line,
                    lines: count,
                }),
            }
        }
        for name in unknown_characters(input, &shot.subject) {
            issues.push(Issue::UnknownCharacter { shot: i, name });
        }
        let (least, most) = duration_bounds(input, &shot.lines);
        let seconds = shot.duration_s;
        if !seconds.is_finite() || seconds + 1e-9 < least {
            issues.push(Issue::TooShort {
                shot: i,
                seconds,
                needed: least,
            });
        } else if seconds > most + 1e-9 {
            issues.push(Issue::TooLong {
                shot: i,
                seconds,
                most,
            });
        }
        if !(plan::LENS_MM.0..=plan::LENS_MM.1).contains(&shot.lens_mm) {
            issues.push(Issue::LensOutOfRange {
                shot: i,
                lens_mm: shot.lens_mm,
            });
        }
        for (field, text, most) in [
            ("subject", &shot.subject, plan::SUBJECT_MAX),
            ("action", &shot.action, plan::ACTION_MAX),
            ("prompt", &shot.prompt, plan::PROMPT_MAX),
        ] {
            let chars = text.chars().count();
            if chars > most {
                issues.push(Issue::TextTooLong {
                    shot: i,
                    field,
                    chars,
                    most,
                });
            }
        }
    }
    for (l, ok) in covered.iter().enumerate() {
        if !ok {
            issues.push(Issue::LineUncovered {
                line: u32::try_from(l + 1).unwrap_or(u32::MAX),
                speaker: input.lines[l].speaker.clone(),
            });
        }
    }
    issues
}

/// What repair did to one shot of the repaired plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShotFix {
    /// Kept as the engine planned it.
    Kept,
    /// Fixed in place; each string says what was fixed.
    Repaired(Vec<String>),
    /// Replaced by the rule-based shot for the same lines, and why.
    FellBack(String),
    /// Added by repair (coverage of lines no shot took), and why.
    Added(String),
}

/// Per shot of the repaired plan, what repair did; `whole_scene` when the plan was replaced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    pub shots: Vec<ShotFix>,
    pub whole_scene: Option<String>,
}

impl RepairReport {
    /// Whether anything was changed.
    #[must_use]
    pub fn changed(&self) -> bool {
        self.whole_scene.is_some() || self.shots.iter().any(|s| *s != ShotFix::Kept)
    }

    /// Whether any shot (or the whole scene) fell back to the rules.
    #[must_use]
    pub fn fell_back(&self) -> bool {
        self.whole_scene.is_some() || self.shots.iter().any(|s| matches!(s, ShotFix::FellBack(_)))
    }
}

fn note(fix: &mut ShotFix, what: String) {
    match fix {
        ShotFix::Kept => *fix = ShotFix::Repaired(vec![what]),
        ShotFix::Repaired(list) => list.push(what),
        ShotFix::FellBack(_) | ShotFix::Added(_) => {}
    }
}

/// Fixes what can be fixed; the result always validates (see the property test).
#[must_use]
pub fn repair(plan: &ScenePlan, input: &SceneInput) -> (ScenePlan, RepairReport) {
    if plan.shots.is_empty() {
        let report = RepairReport {
            shots: Vec::new(),
            whole_scene: Some("the plan had no shots; the rule-based plan replaces it".to_owned()),
        };
        let rules_plan = rules::plan(input);
        let n = rules_plan.shots.len();
        return (
            rules_plan,
            RepairReport {
                shots: vec![ShotFix::FellBack("empty plan".into()); n],
                ..report
            },
        );
    }
    let count = input.lines.len();
    let mut shots: Vec<PlannedShot> = plan.shots.clone();
    let mut fixes: Vec<ShotFix> = vec![ShotFix::Kept; shots.len()];
    // Merge down to the most shots allowed (the shortest neighbours first).
    if shots.len() > plan::MAX_SHOTS {
        let before = shots.len();
        for s in &mut shots {
            if !s.duration_s.is_finite() {
                s.duration_s = plan::DURATION_S.0;
            }
        }
        rules::fit(&mut shots, input);
        fixes = vec![
            ShotFix::Repaired(vec![format!(
                "{before} shots merged down to {}",
                plan::MAX_SHOTS
            )]);
            shots.len()
        ];
    }
    for (shot, fix) in shots.iter_mut().zip(&mut fixes) {
        // Lines: in range, in order, once.
        let before = shot.lines.clone();
        shot.lines
            .retain(|&l| l >= 1 && usize::try_from(l).is_ok_and(|l| l <= count));
        shot.lines.sort_unstable();
        shot.lines.dedup();
        if shot.lines.len() != before.len() {
            note(fix, "dropped lines the scene does not have".to_owned());
        }
        let unknown = unknown_characters(input, &shot.subject);
        if !unknown.is_empty() {
            let lines = shot.lines.clone();
            *shot = rules::fallback_shot(input, &lines);
            *fix = ShotFix::FellBack(format!(
                "named {} who is not in the scene",
                unknown.join(", ")
            ));
            continue;
        }
        if !(plan::LENS_MM.0..=plan::LENS_MM.1).contains(&shot.lens_mm) {
            shot.lens_mm = rules::lens_for(shot.size);
            note(fix, format!("lens set to {} mm", shot.lens_mm));
        }
        for (name, text, most) in [
            ("subject", &mut shot.subject, plan::SUBJECT_MAX),
            ("action", &mut shot.action, plan::ACTION_MAX),
            ("prompt", &mut shot.prompt, plan::PROMPT_MAX),
        ] {
            if text.chars().count() > most {
                *text = plan::clip(text, most);
                note(fix, format!("{name} cut to {most} characters"));
            }
        }
    }
    // Uncovered lines go to the shot holding the nearest earlier line (else the nearest later
    // one); with no dialogue shot at all, to a rule-based coverage shot added at the end (or,
    // when the plan is full, to its last shot).
    let mut covered = vec![false; count];
    for s in &shots {
        for &l in &s.lines {
            covered[usize::try_from(l).unwrap_or(1) - 1] = true;
        }
    }
    let uncovered: Vec<u32> = (0..count)
        .filter(|&l| !covered[l])
        .map(|l| u32::try_from(l + 1).unwrap_or(u32::MAX))
        .collect();
    let mut orphans: Vec<u32> = Vec::new();
    for line in uncovered {
        let nearest = shots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.lines
                    .iter()
                    .filter(|&&l| l < line)
                    .max()
                    .map(|&l| (line - l, i))
            })
            .min()
            .or_else(|| {
                shots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| {
                        s.lines
                            .iter()
                            .filter(|&&l| l > line)
                            .min()
                            .map(|&l| (l - line, i))
                    })
                    .min()
            });
        match nearest {
            Some((_, i)) => {
                shots[i].lines.push(line);
                shots[i].lines.sort_unstable();
                note(&mut fixes[i], format!("took uncovered line {line}"));
            }
            None => orphans.push(line),
        }
    }
    if !orphans.is_empty() {
        if shots.len() < plan::MAX_SHOTS {
            shots.push(rules::fallback_shot(input, &orphans));
            fixes.push(ShotFix::Added(format!("coverage for lines {orphans:?}")));
        } else {
            let last = shots.len() - 1;
            shots[last].lines.extend(&orphans);
            shots[last].lines.sort_unstable();
            note(
                &mut fixes[last],
                format!("took uncovered lines {orphans:?}"),
            );
        }
    }
    // Durations last: they depend on the lines.
    for (shot, fix) in shots.iter_mut().zip(&mut fixes) {
        let (least, most) = duration_bounds(input, &shot.lines);
        let s = shot.duration_s;
        let fixed = if !s.is_finite() || s + 1e-9 < least {
            Some((least * 10.0).ceil() / 10.0)
        } else if s > most + 1e-9 {
            Some((most * 10.0).floor() / 10.0)
        } else {
            None
        };
        if let Some(v) = fixed {
            shot.duration_s = v.clamp(plan::DURATION_S.0, plan::DURATION_S.1);
            note(
                fix,
                format!("duration {s:.1} s set to {:.1} s", shot.duration_s),
            );
        }
    }
    (
        ScenePlan { shots },
        RepairReport {
            shots: fixes,
            whole_scene: None,
        },
    )
}
