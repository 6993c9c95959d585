//! Checking a plan against its scene, and repairing what can be repaired.
//!
//! What a plan must satisfy: at least one shot; every `lines` index names a speech of the scene;
//! every speech is covered by some shot; a subject that names a character of the script names
//! one present in the scene (a subject that is not a character, "the letter", is a prop and
//! fine; an ALL-CAPS name nobody in the script has is an invented character); a shot lasts long
//! enough to say the lines it covers and not absurdly longer.
//!
//! Repair, per shot: drop bad line numbers, re-aim a subject at the speaker of its lines (or the
//! location), stretch or trim the duration to reading speed; uncovered speeches join the shot on
//! their speaker nearest before them, or get a new single. A shot with neither subject, action
//! nor prompt is replaced by the rules' shot covering the same lines. An empty plan falls back to
//! the rules as a whole.

use std::fmt;

use previz_core::{CameraAngle, CameraMovement, ShotSize, cue_key};

use crate::plan::{MAX_SECONDS, PlannedShot, SUBJECT_CHARS, ShotPlan};
use crate::rules::{self, compose_prompt, lens_for, speech_seconds};
use crate::scene::SceneInput;

/// One thing wrong with a plan.
#[derive(Clone, Debug, PartialEq)]
pub enum Issue {
    Empty,
    LineOutOfRange {
        shot: usize,
        line: u32,
    },
    Uncovered {
        line: usize,
    },
    AbsentCharacter {
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
        limit: f64,
    },
    Blank {
        shot: usize,
    },
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Issue::Empty => write!(f, "the plan has no shots"),
            Issue::LineOutOfRange { shot, line } => write!(
                f,
                "shot {} covers line {line}, which the scene does not have",
                shot + 1
            ),
            Issue::Uncovered { line } => write!(f, "line {} is covered by no shot", line + 1),
            Issue::AbsentCharacter { shot, name } => {
                write!(f, "shot {} is of {name}, who is not in the scene", shot + 1)
            }
            Issue::TooShort {
                shot,
                seconds,
                needed,
            } => write!(
                f,
                "shot {} lasts {seconds:.1} s but its lines take {needed:.1} s",
                shot + 1
            ),
            Issue::TooLong {
                shot,
                seconds,
                limit,
            } => write!(
                f,
                "shot {} lasts {seconds:.1} s, more than {limit:.1} s",
                shot + 1
            ),
            Issue::Blank { shot } => {
                write!(f, "shot {} has no subject, action or prompt", shot + 1)
            }
        }
    }
}

fn needed_seconds(scene: &SceneInput, shot: &PlannedShot) -> f64 {
    shot.lines
        .iter()
        .filter_map(|&l| scene.lines.get((l as usize).wrapping_sub(1)))
        .map(|l| speech_seconds(&l.text))
        .sum()
}

fn limit_seconds(needed: f64) -> f64 {
    (needed * 3.0).max(needed + 10.0).clamp(12.0, MAX_SECONDS)
}

/// Words of a subject that name someone: the script's characters, or an ALL-CAPS word.
fn named_characters(scene: &SceneInput, subject: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in &scene.all_characters {
        if crate::scene::mentions(subject, &c.name) {
            out.push(c.name.clone());
        }
    }
    for word in subject.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
        let letters = word.chars().filter(|c| c.is_alphabetic()).count();
        if letters >= 2
            && word.chars().all(|c| !c.is_lowercase())
            && !scene
                .all_characters
                .iter()
                .any(|c| name_words(&c.name).any(|p| p == word))
        {
            out.push(word.to_owned());
        }
    }
    out
}

/// The words of a name, upper-cased (`McCLANE-ODUYA` → `MCCLANE`, `ODUYA`).
fn name_words(name: &str) -> impl Iterator<Item = String> + '_ {
    name.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_uppercase)
}

fn present(scene: &SceneInput, name: &str) -> bool {
    let key = cue_key(name);
    scene
        .characters
        .iter()
        .any(|c| c.answers_to(name) || name_words(&c.name).any(|p| p == key))
}

/// Everything wrong with `plan` for `scene`.
#[must_use]
pub fn validate(plan: &ShotPlan, scene: &SceneInput) -> Vec<Issue> {
    let mut issues = Vec::new();
    if plan.shots.is_empty() {
        issues.push(Issue::Empty);
        return issues;
    }
    let n = scene.lines.len();
    let mut covered = vec![false; n];
    for (i, shot) in plan.shots.iter().enumerate() {
        for &l in &shot.lines {
            match (l as usize).checked_sub(1).filter(|&k| k < n) {
                Some(k) => covered[k] = true,
                None => issues.push(Issue::LineOutOfRange { shot: i, line: l }),
            }
        }
        for name in named_characters(scene, &shot.subject) {
            if !present(scene, &name) {
                issues.push(Issue::AbsentCharacter { shot: i, name });
            }
        }
        if shot.subject.trim().is_empty()
            && shot.action.trim().is_empty()
            && shot.prompt.trim().is_empty()
        {
            issues.push(Issue::Blank { shot: i });
        }
        let needed = needed_seconds(scene, shot);
        if shot.duration_s + 1e-9 < needed * 0.8 {
            issues.push(Issue::TooShort {
                shot: i,
                seconds: shot.duration_s,
                needed,
            });
        }
        let limit = limit_seconds(needed);
        if shot.duration_s > limit + 1e-9 || !shot.duration_s.is_finite() {
            issues.push(Issue::TooLong {
                shot: i,
                seconds: shot.duration_s,
                limit,
            });
        }
    }
    for (k, c) in covered.iter().enumerate() {
        if !c {
            issues.push(Issue::Uncovered { line: k });
        }
    }
    issues
}

/// What repair did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Repair {
    /// One line per fix, for the job log.
    pub fixes: Vec<String>,
    /// The whole plan came from the rules.
    pub fell_back: bool,
    /// Shots replaced by the rules' shots.
    pub shots_replaced: usize,
}

/// Repairs `plan` so that it validates; reports what it changed.
#[must_use]
pub fn repair(mut plan: ShotPlan, scene: &SceneInput) -> (ShotPlan, Repair) {
    let mut report = Repair::default();
    let issues = validate(&plan, scene);
    if issues.is_empty() {
        return (plan, report);
    }
    if issues.contains(&Issue::Empty) {
        report
            .fixes
            .push("empty plan: the rules' plan is used".into());
        report.fell_back = true;
        return (rules::plan_scene(scene), report);
    }
    let n = scene.lines.len();
    // Line numbers: drop the impossible, keep order, no duplicates within a shot.
    for (i, shot) in plan.shots.iter_mut().enumerate() {
        let before = shot.lines.len();
        let mut seen = Vec::new();
        shot.lines.retain(|&l| {
            let ok = l >= 1 && (l as usize) <= n && !seen.contains(&l);
            seen.push(l);
            ok
        });
        if shot.lines.len() != before {
            report.fixes.push(format!(
                "shot {}: dropped {} line number(s) the scene does not have",
                i + 1,
                before - shot.lines.len()
            ));
        }
    }
    // Blank shots: the rules' shot for the same lines, or dropped.
    let rule_plan = rules::plan_scene(scene);
    let mut kept = Vec::new();
    for (i, shot) in plan.shots.into_iter().enumerate() {
        if shot.subject.trim().is_empty()
            && shot.action.trim().is_empty()
            && shot.prompt.trim().is_empty()
        {
            if let Some(r) = rule_plan
                .shots
                .iter()
                .find(|r| !shot.lines.is_empty() && r.lines.iter().any(|l| shot.lines.contains(l)))
            {
                let mut r = r.clone();
                r.lines.clone_from(&shot.lines);
                kept.push(r);
                report.shots_replaced += 1;
                report.fixes.push(format!(
                    "shot {}: blank, replaced by the rules' shot",
                    i + 1
                ));
            } else {
                report.fixes.push(format!("shot {}: blank, dropped", i + 1));
            }
            continue;
        }
        kept.push(shot);
    }
    plan.shots = kept;
    // Characters who are not in the scene.
    for (i, shot) in plan.shots.iter_mut().enumerate() {
        let absent: Vec<String> = named_characters(scene, &shot.subject)
            .into_iter()
            .filter(|name| !present(scene, name))
            .collect();
        if !absent.is_empty() {
            let new_subject = shot
                .lines
                .first()
                .and_then(|&l| scene.speaker(l as usize - 1))
                .map_or_else(|| scene.location.to_lowercase(), str::to_owned);
            let new_subject = if new_subject.is_empty() {
                "the scene".to_owned()
            } else {
                new_subject
            };
            report.fixes.push(format!(
                "shot {}: {} not in the scene; now on {new_subject}",
                i + 1,
                absent.join(", ")
            ));
            shot.subject = rules::clip(&new_subject, SUBJECT_CHARS);
            shot.prompt = compose_prompt(scene, shot.size, &shot.subject, &shot.action);
        }
    }
    // Uncovered speeches.
    for k in 0..n {
        let number = u32::try_from(k + 1).unwrap_or(u32::MAX);
        if plan.shots.iter().any(|s| s.lines.contains(&number)) {
            continue;
        }
        let speaker = scene.speaker(k).unwrap_or("").to_owned();
        // The last shot on this speaker that covers an earlier line, else a new single placed
        // after the shot covering the previous line.
        let host = plan.shots.iter().rposition(|s| {
            cue_key(&s.subject) == cue_key(&speaker) && s.lines.iter().any(|&l| l < number)
        });
        if let Some(h) = host {
            plan.shots[h].lines.push(number);
            plan.shots[h].lines.sort_unstable();
            report
                .fixes
                .push(format!("line {number}: added to shot {}", h + 1));
        } else {
            let after = plan
                .shots
                .iter()
                .rposition(|s| s.lines.iter().any(|&l| l < number))
                .map_or(plan.shots.len(), |p| p + 1);
            let subject = if speaker.is_empty() {
                "the speaker".to_owned()
            } else {
                speaker
            };
            let action = format!("{subject} speaks");
            let single = PlannedShot {
                size: ShotSize::Medium,
                angle: CameraAngle::EyeLevel,
                movement: CameraMovement::Static,
                lens_mm: lens_for(ShotSize::Medium),
                prompt: compose_prompt(scene, ShotSize::Medium, &subject, &action),
                subject: rules::clip(&subject, SUBJECT_CHARS),
                action,
                lines: vec![number],
                duration_s: 0.0,
            };
            plan.shots.insert(after.min(plan.shots.len()), single);
            report
                .fixes
                .push(format!("line {number}: no shot covered it; added a single"));
        }
    }
    // Durations.
    for (i, shot) in plan.shots.iter_mut().enumerate() {
        let needed = needed_seconds(scene, shot);
        let limit = limit_seconds(needed);
        if !shot.duration_s.is_finite() || shot.duration_s < needed * 0.8 || shot.duration_s < 0.5 {
            let to = ((needed.max(1.5)) * 10.0).ceil() / 10.0;
            if shot.duration_s > 0.0 {
                report.fixes.push(format!(
                    "shot {}: {:.1} s is too short for its lines; {to:.1} s",
                    i + 1,
                    shot.duration_s
                ));
            }
            shot.duration_s = to;
        } else if shot.duration_s > limit {
            report.fixes.push(format!(
                "shot {}: {:.1} s is too long; {limit:.1} s",
                i + 1,
                shot.duration_s
            ));
            shot.duration_s = (limit * 10.0).floor() / 10.0;
        }
    }
    if plan.shots.is_empty() {
        report
            .fixes
            .push("nothing usable: the rules' plan is used".into());
        report.fell_back = true;
        return (rule_plan, report);
    }
    (plan, report)
}
