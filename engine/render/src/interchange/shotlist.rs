//! The shot list as the AD department reads it: one row per shot in project order (scene by
//! scene), with the camera fields, action, dialogue, length and where the shot plays in the
//! animatic. Written as CSV (RFC 4180, UTF-8, a header row) for spreadsheets and scheduling
//! tools; the same rows feed the PDF storyboard.

use std::collections::BTreeMap;

use previz_core::ids::ShotId;
use previz_core::project::Project;
use previz_core::time::RationalTime;
use previz_core::timeline::ClipSource;

/// One shot, as text ready to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShotRow {
    pub shot: ShotId,
    pub number: String,
    pub scene: String,
    pub heading: String,
    pub size: String,
    pub angle: String,
    pub movement: String,
    pub lens: String,
    pub subject: String,
    pub action: String,
    /// `NAME: words` per speech, one per line.
    pub dialogue: String,
    pub duration_frames: i64,
    /// Length as `SS:FF` style timecode.
    pub duration: String,
    /// Timecode where the shot first plays on the timeline (empty when it is not cut in).
    pub timeline_in: String,
    /// Id of the active take (empty when none).
    pub take: String,
    pub notes: String,
}

/// The rows of every shot, in project order.
#[must_use]
pub fn rows(project: &Project) -> Vec<ShotRow> {
    let numbers = project.shot_numbers();
    let scenes: BTreeMap<_, _> = project
        .script
        .scenes
        .iter()
        .zip(project.script.display_numbers())
        .map(|(s, n)| (s.id, (n.unwrap_or_default(), s.heading.text.clone())))
        .collect();
    let timeline = &project.timeline;
    let mut first_in: BTreeMap<ShotId, i64> = BTreeMap::new();
    for (_, start, clip) in timeline.clips() {
        if let ClipSource::Shot { shot } | ClipSource::Take { shot, .. } = &clip.source {
            let entry = first_in.entry(*shot).or_insert(start);
            *entry = (*entry).min(start);
        }
    }
    project
        .shots
        .iter()
        .map(|shot| {
            let (scene, heading) = scenes.get(&shot.scene).cloned().unwrap_or_default();
            let dialogue = shot
                .dialogue
                .iter()
                .filter_map(|line| project.script.dialogue(*line))
                .map(|(_, block)| format!("{}: {}", block.cue, block.spoken_text()))
                .collect::<Vec<_>>()
                .join("\n");
            let frames = shot.duration.value;
            ShotRow {
                shot: shot.id,
                number: numbers.get(&shot.id).cloned().unwrap_or_default(),
                scene,
                heading,
                size: shot
                    .size
                    .map(|v| v.as_str().replace('_', " "))
                    .unwrap_or_default(),
                angle: shot
                    .angle
                    .map(|v| v.as_str().replace('_', " "))
                    .unwrap_or_default(),
                movement: shot
                    .movement
                    .map(|v| v.as_str().replace('_', " "))
                    .unwrap_or_default(),
                lens: shot.lens_mm.map(|mm| format!("{mm}mm")).unwrap_or_default(),
                subject: shot.subject.clone(),
                action: shot.action.clone(),
                dialogue,
                duration_frames: frames,
                duration: RationalTime::new(frames, shot.duration.rate).to_timecode(false),
                timeline_in: first_in
                    .get(&shot.id)
                    .map(|f| timeline.time(timeline.start_frame + f).to_timecode(false))
                    .unwrap_or_default(),
                take: shot.active_take.map(|t| t.to_string()).unwrap_or_default(),
                notes: shot.notes.clone(),
            }
        })
        .collect()
}

/// The header row of the CSV.
pub const HEADER: [&str; 15] = [
    "Shot",
    "Scene",
    "Scene heading",
    "Size",
    "Angle",
    "Movement",
    "Lens",
    "Subject",
    "Action",
    "Dialogue",
    "Frames",
    "Duration",
    "Timeline in",
    "Active take",
    "Notes",
];

/// The shot list as CSV bytes.
pub fn write_csv(project: &Project) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for row in rows(project) {
        writer.write_record([
            row.number.as_str(),
            &row.scene,
            &row.heading,
            &row.size,
            &row.angle,
            &row.movement,
            &row.lens,
            &row.subject,
            &row.action,
            &row.dialogue,
            &row.duration_frames.to_string(),
            &row.duration,
            &row.timeline_in,
            &row.take,
            &row.notes,
        ])?;
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shot_is_a_row_and_quotes_survive() {
        let mut project = previz_core::synth::project(3, 3);
        project.shots[0].action = "He says \"no\", then leaves,\nslowly".into();
        let bytes = write_csv(&project).unwrap();
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(reader.headers().unwrap().len(), HEADER.len());
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 3);
        assert_eq!(&records[0][8], "He says \"no\", then leaves,\nslowly");
        assert!(!records[0][0].is_empty());
    }
}
