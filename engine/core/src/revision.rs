//! Script revision re-flow: bringing a new draft into a project without losing its work.
//!
//! A new draft arrives with fresh ids. [`revise`] matches its scenes and speeches to the
//! project's (by heading and content similarity, in script order, then out of order for moved
//! scenes), gives the matches their old ids so shots, takes and clips stay attached, and reports
//! what was added, removed, changed and moved. Scenes cut from the draft that still have shots
//! are kept as omitted scenes, as productions keep "OMITTED" slugs; nothing generated is lost.
//!
//! The result is one [`EditCommand::Batch`], so a revision is a single undo step.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::edit::EditCommand;
use crate::ids::{ItemId, LineId, SceneId, ShotId};
use crate::project::Project;
use crate::script::{DialogueBlock, Scene, Script, ScriptElement, cue_key};
use crate::shot::ShotField;
use crate::timeline::ClipSource;

/// Below this score two scenes in script order are not the same scene.
const SCENE_MATCH: f64 = 0.5;
/// Out-of-order (moved) scenes must be more alike.
const SCENE_MOVED_MATCH: f64 = 0.7;
/// Below this score two speeches are not the same line.
const LINE_MATCH: f64 = 0.5;

/// What a revision did, for the person who imported it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RevisionReport {
    pub scenes_unchanged: usize,
    pub scenes_changed: Vec<SceneChange>,
    pub scenes_added: Vec<SceneRef>,
    pub scenes_removed: Vec<RemovedScene>,
    pub scenes_moved: Vec<SceneRef>,
    /// Shots that covered speeches the new draft no longer has.
    pub shots_lost_dialogue: Vec<ShotId>,
    /// Dialogue clips lifted because their speech is gone.
    pub clips_lifted: Vec<ItemId>,
}

impl RevisionReport {
    /// Whether the draft differs at all from the project's script.
    #[must_use]
    pub fn is_unchanged(&self) -> bool {
        self.scenes_changed.is_empty()
            && self.scenes_added.is_empty()
            && self.scenes_removed.is_empty()
            && self.scenes_moved.is_empty()
    }
}

/// A scene, as a report names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SceneRef {
    pub id: SceneId,
    pub heading: String,
}

/// A matched scene whose content changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SceneChange {
    pub id: SceneId,
    pub heading: String,
    pub heading_changed: bool,
    pub lines_added: usize,
    pub lines_removed: usize,
    pub lines_changed: usize,
}

/// A scene the new draft no longer has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemovedScene {
    pub id: SceneId,
    pub heading: String,
    /// Kept in the project as an omitted scene because shots belong to it.
    pub kept_as_omitted: bool,
    pub shots: usize,
}

/// Word tokens of a text, hashed (lower-case alphanumeric runs).
fn words(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(|w| hash_str(&w.to_lowercase()))
        .collect()
}

fn hash_str(s: &str) -> u64 {
    // FNV-1a: stable, fast, and plenty for similarity sketches.
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Sorted multiset of word bigrams (single words for one-word texts).
fn sketch(text: &str) -> Vec<u64> {
    let w = words(text);
    let mut grams: Vec<u64> = if w.len() < 2 {
        w
    } else {
        w.windows(2).map(|p| p[0].rotate_left(17) ^ p[1]).collect()
    };
    grams.sort_unstable();
    grams
}

/// Dice coefficient of two sorted multisets.
fn dice(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    #[allow(clippy::cast_precision_loss)] // counts of words, far below 2^52
    let score = 2.0 * common as f64 / (a.len() + b.len()) as f64;
    score
}

fn element_text(element: &ScriptElement) -> String {
    match element {
        ScriptElement::Action { text, .. }
        | ScriptElement::Centered { text }
        | ScriptElement::Lyrics { text }
        | ScriptElement::Transition { text, .. }
        | ScriptElement::Section { text, .. }
        | ScriptElement::Synopsis { text } => text.text.clone(),
        ScriptElement::Dialogue(d) => format!("{} {}", d.cue, d.spoken_text()),
        ScriptElement::Note { text } => text.clone(),
        ScriptElement::PageBreak => String::new(),
    }
}

struct SceneSketch {
    heading: String,
    body: Vec<u64>,
    exact: u64,
}

fn scene_sketch(scene: &Scene) -> SceneSketch {
    let body_text: Vec<String> = scene.elements.iter().map(element_text).collect();
    let body_text = body_text.join("\n");
    SceneSketch {
        heading: cue_key(&scene.heading.text),
        exact: hash_str(&format!("{}\n{}", cue_key(&scene.heading.text), body_text)),
        body: sketch(&body_text),
    }
}

fn heading_similarity(a: &SceneSketch, b: &SceneSketch) -> f64 {
    strsim::normalized_levenshtein(&a.heading, &b.heading)
}

fn scene_score(a: &SceneSketch, b: &SceneSketch) -> f64 {
    if a.exact == b.exact {
        return 1.0;
    }
    0.4 * heading_similarity(a, b) + 0.6 * dice(&a.body, &b.body)
}

/// Order-preserving alignment maximising the total of (score − threshold) over matched pairs.
/// Returns matched (old, new) index pairs in order.
fn align(
    n: usize,
    m: usize,
    threshold: f64,
    score: &dyn Fn(usize, usize) -> f64,
) -> Vec<(usize, usize)> {
    let mut scores = vec![f64::NEG_INFINITY; n * m];
    for i in 0..n {
        for j in 0..m {
            scores[i * m + j] = score(i, j);
        }
    }
    // best[i][j]: best total using old[i..] and new[j..].
    let width = m + 1;
    let mut best = vec![0.0f64; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let skip = best[(i + 1) * width + j].max(best[i * width + j + 1]);
            let s = scores[i * m + j];
            let take = if s >= threshold {
                s - threshold + 1e-9 + best[(i + 1) * width + j + 1]
            } else {
                f64::NEG_INFINITY
            };
            best[i * width + j] = skip.max(take);
        }
    }
    let mut pairs = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        let s = scores[i * m + j];
        let here = best[i * width + j];
        if s >= threshold
            && (here - (s - threshold + 1e-9 + best[(i + 1) * width + j + 1])).abs() < 1e-12
        {
            pairs.push((i, j));
            i += 1;
            j += 1;
        } else if (here - best[(i + 1) * width + j]).abs() < 1e-12 {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs
}

/// Pairs leftovers that sit in the same gap between matched neighbours when `accept` agrees
/// (a line rewritten in place by the same character; a scene rewritten at the same location).
fn pair_in_slots(
    matched: &[(usize, usize)],
    n: usize,
    m: usize,
    accept: &dyn Fn(usize, usize) -> bool,
) -> Vec<(usize, usize)> {
    let mut extra = Vec::new();
    let mut bounds: Vec<(usize, usize)> = vec![(0, 0)];
    bounds.extend(matched.iter().map(|&(i, j)| (i + 1, j + 1)));
    let mut ends: Vec<(usize, usize)> = matched.to_vec();
    ends.push((n, m));
    for ((old_start, new_start), (old_end, new_end)) in bounds.into_iter().zip(ends) {
        let mut next_new = new_start;
        for i in old_start..old_end {
            if let Some(j) = (next_new..new_end).find(|&j| accept(i, j)) {
                extra.push((i, j));
                next_new = j + 1;
            }
        }
    }
    extra
}

struct LineMatch {
    /// new index → old id
    ids: HashMap<usize, LineId>,
    added: usize,
    removed: Vec<LineId>,
    changed: usize,
}

fn match_lines(old: &[&DialogueBlock], new: &[&DialogueBlock]) -> LineMatch {
    let old_sketch: Vec<(String, Vec<u64>, String)> = old
        .iter()
        .map(|d| (cue_key(&d.cue), sketch(&d.spoken_text()), d.spoken_text()))
        .collect();
    let new_sketch: Vec<(String, Vec<u64>, String)> = new
        .iter()
        .map(|d| (cue_key(&d.cue), sketch(&d.spoken_text()), d.spoken_text()))
        .collect();
    let score = |i: usize, j: usize| {
        let (oc, os, ot) = &old_sketch[i];
        let (nc, ns, nt) = &new_sketch[j];
        let text = if ot == nt { 1.0 } else { dice(os, ns) };
        if oc == nc { text } else { 0.6 * text }
    };
    let mut pairs = align(old.len(), new.len(), LINE_MATCH, &score);
    let same_cue = |i: usize, j: usize| old_sketch[i].0 == new_sketch[j].0;
    let in_slots = pair_in_slots(&pairs, old.len(), new.len(), &|i, j| {
        same_cue(i, j) && !pairs.iter().any(|&(a, b)| a == i || b == j)
    });
    pairs.extend(in_slots);
    let mut ids = HashMap::new();
    let mut changed = 0;
    let mut kept_old = HashSet::new();
    for &(i, j) in &pairs {
        ids.insert(j, old[i].id);
        kept_old.insert(i);
        if old[i].spoken_text() != new[j].spoken_text()
            || old[i].parts != new[j].parts
            || old_sketch[i].0 != new_sketch[j].0
        {
            changed += 1;
        }
    }
    LineMatch {
        added: new.len() - pairs.len(),
        removed: (0..old.len())
            .filter(|i| !kept_old.contains(i))
            .map(|i| old[i].id)
            .collect(),
        ids,
        changed,
    }
}

/// Equal apart from which character object a cue is bound to (the draft has its own cast until
/// it is re-indexed against the project's).
fn same_elements(a: &[ScriptElement], b: &[ScriptElement]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (ScriptElement::Dialogue(p), ScriptElement::Dialogue(q)) => {
                DialogueBlock {
                    character: None,
                    ..p.clone()
                } == DialogueBlock {
                    character: None,
                    ..q.clone()
                }
            }
            _ => x == y,
        })
}

/// Gives a new element list the old speech ids it matches; returns what happened to the lines.
fn carry_line_ids(old: &[ScriptElement], new: &mut [ScriptElement]) -> LineMatch {
    let old_blocks: Vec<&DialogueBlock> = old
        .iter()
        .filter_map(|e| match e {
            ScriptElement::Dialogue(d) => Some(d),
            _ => None,
        })
        .collect();
    let new_blocks: Vec<&DialogueBlock> = new
        .iter()
        .filter_map(|e| match e {
            ScriptElement::Dialogue(d) => Some(d),
            _ => None,
        })
        .collect();
    let matched = match_lines(&old_blocks, &new_blocks);
    let old_extra: HashMap<LineId, crate::Extra> =
        old_blocks.iter().map(|d| (d.id, d.extra.clone())).collect();
    let mut index = 0;
    for element in new.iter_mut() {
        if let ScriptElement::Dialogue(d) = element {
            if let Some(id) = matched.ids.get(&index) {
                d.id = *id;
                if let Some(extra) = old_extra.get(id) {
                    for (k, v) in extra {
                        d.extra.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            index += 1;
        }
    }
    matched
}

/// Merges a new draft into the project: returns the command that applies it (one undo step)
/// and a report of what changed. The command fails to apply only if the project changed since.
#[must_use]
pub fn revise(project: &Project, draft: Script) -> (EditCommand, RevisionReport) {
    let old = &project.script;
    let mut new = draft;
    let mut report = RevisionReport::default();

    // Omitted scenes take part in matching (a cut scene may come back) but are not "removed"
    // again when they stay out.
    let old_sketches: Vec<SceneSketch> = old.scenes.iter().map(scene_sketch).collect();
    let new_sketches: Vec<SceneSketch> = new.scenes.iter().map(scene_sketch).collect();
    let (n, m) = (old.scenes.len(), new.scenes.len());
    let matrix: Vec<f64> = (0..n)
        .flat_map(|i| (0..m).map(move |j| (i, j)))
        .map(|(i, j)| scene_score(&old_sketches[i], &new_sketches[j]))
        .collect();
    let score = |i: usize, j: usize| matrix[i * m + j];
    let mut pairs = align(n, m, SCENE_MATCH, &score);
    let rewritten = pair_in_slots(&pairs, n, m, &|i, j| {
        !pairs.iter().any(|&(a, b)| a == i || b == j)
            && heading_similarity(&old_sketches[i], &new_sketches[j]) >= 0.8
    });
    pairs.extend(rewritten);
    // Moved scenes: the most alike remaining pairs, out of order.
    let mut used_old: HashSet<usize> = pairs.iter().map(|p| p.0).collect();
    let mut used_new: HashSet<usize> = pairs.iter().map(|p| p.1).collect();
    let mut candidates: Vec<(f64, usize, usize)> = (0..n)
        .filter(|i| !used_old.contains(i))
        .flat_map(|i| (0..m).map(move |j| (i, j)))
        .filter(|(_, j)| !used_new.contains(j))
        .map(|(i, j)| (score(i, j), i, j))
        .filter(|(s, _, _)| *s >= SCENE_MOVED_MATCH)
        .collect();
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut moved = Vec::new();
    for (_, i, j) in candidates {
        if !used_old.contains(&i) && !used_new.contains(&j) {
            used_old.insert(i);
            used_new.insert(j);
            moved.push((i, j));
        }
    }

    let mut new_for_old: HashMap<usize, usize> = HashMap::new();
    let mut lost_lines: HashSet<LineId> = HashSet::new();
    for &(i, j) in pairs.iter().chain(&moved) {
        new_for_old.insert(i, j);
        let old_scene = &old.scenes[i];
        let new_scene = &mut new.scenes[j];
        new_scene.id = old_scene.id;
        for (k, v) in &old_scene.extra {
            new_scene
                .extra
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        let lines = carry_line_ids(&old_scene.elements, &mut new_scene.elements);
        lost_lines.extend(lines.removed.iter().copied());
        let heading_changed = old_scene.heading.text != new_scene.heading.text;
        let same = old_sketches[i].exact == new_sketches[j].exact
            && same_elements(&old_scene.elements, &new_scene.elements)
            && old_scene.heading == new_scene.heading
            && old_scene.number == new_scene.number
            && !old_scene.omitted;
        if moved.contains(&(i, j)) {
            report.scenes_moved.push(SceneRef {
                id: old_scene.id,
                heading: new_scene.heading.text.clone(),
            });
        }
        if same {
            report.scenes_unchanged += 1;
        } else {
            report.scenes_changed.push(SceneChange {
                id: old_scene.id,
                heading: new_scene.heading.text.clone(),
                heading_changed,
                lines_added: lines.added,
                lines_removed: lines.removed.len(),
                lines_changed: lines.changed,
            });
        }
    }
    let matched_new: HashSet<usize> = new_for_old.values().copied().collect();
    for (j, scene) in new.scenes.iter().enumerate() {
        if !matched_new.contains(&j) {
            report.scenes_added.push(SceneRef {
                id: scene.id,
                heading: scene.heading.text.clone(),
            });
        }
    }
    let front = carry_line_ids(&old.front_matter, &mut new.front_matter);
    lost_lines.extend(front.removed);

    // Unmatched old scenes: keep the ones shots belong to as omitted, after their nearest kept
    // predecessor, so they stay near where they were.
    let shots_per_scene: HashMap<SceneId, usize> =
        project.shots.iter().fold(HashMap::new(), |mut acc, s| {
            *acc.entry(s.scene).or_insert(0) += 1;
            acc
        });
    let mut merged: Vec<Scene> = Vec::with_capacity(new.scenes.len());
    let mut omitted_after: HashMap<Option<SceneId>, Vec<Scene>> = HashMap::new();
    let mut previous_kept: Option<SceneId> = None;
    for (i, scene) in old.scenes.iter().enumerate() {
        if let Some(&j) = new_for_old.get(&i) {
            previous_kept = Some(new.scenes[j].id);
            continue;
        }
        let shots = shots_per_scene.get(&scene.id).copied().unwrap_or(0);
        let keep = shots > 0;
        if !scene.omitted {
            report.scenes_removed.push(RemovedScene {
                id: scene.id,
                heading: scene.heading.text.clone(),
                kept_as_omitted: keep,
                shots,
            });
        }
        if keep {
            let mut kept = scene.clone();
            kept.omitted = true;
            omitted_after.entry(previous_kept).or_default().push(kept);
        } else {
            for block in scene.dialogue() {
                lost_lines.insert(block.id);
            }
        }
    }
    if let Some(first) = omitted_after.remove(&None) {
        merged.extend(first);
    }
    for scene in std::mem::take(&mut new.scenes) {
        let id = scene.id;
        merged.push(scene);
        if let Some(after) = omitted_after.remove(&Some(id)) {
            merged.extend(after);
        }
    }
    new.scenes = merged;
    // Characters and locations keep their ids, descriptions and aliases; new ones are added.
    new.characters.clone_from(&old.characters);
    new.locations.clone_from(&old.locations);
    new.index_cast();

    let mut commands = Vec::new();
    for shot in &project.shots {
        if shot.dialogue.iter().any(|l| lost_lines.contains(l)) {
            report.shots_lost_dialogue.push(shot.id);
            commands.push(EditCommand::EditShot {
                shot: shot.id,
                field: ShotField::Dialogue(
                    shot.dialogue
                        .iter()
                        .copied()
                        .filter(|l| !lost_lines.contains(l))
                        .collect(),
                ),
            });
        }
    }
    for (_, _, clip) in project.timeline.clips() {
        if let ClipSource::Dialogue { line, .. } = &clip.source
            && lost_lines.contains(line)
        {
            report.clips_lifted.push(clip.id);
            commands.push(EditCommand::LiftItem { item: clip.id });
        }
    }
    commands.push(EditCommand::ReplaceScript {
        script: Box::new(new),
    });
    (
        EditCommand::Batch {
            label: "Import revised script".to_owned(),
            commands,
        },
        report,
    )
}
