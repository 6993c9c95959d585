//! Casting in the studio: what voices this machine has (found by a background job when the
//! Cast panel first shows), and "preview voice" — a character's first line spoken as cast,
//! rendered by a job and played on the audio output. The casting itself is part of the
//! character bible and changes only through `EditCharacter` commands (undoable); a preview
//! never touches the project.

use std::sync::{Arc, Mutex};

use previz_core::{Casting, CharacterId, Project};
use previz_jobs::{Finished, JobError, JobId, JobKind, JobOutput, JobSpec, Priority};
use previz_voices::{Catalogue, VoiceBank};

use crate::settings::Device;
use crate::studio::Studio;

/// The voice bank shared by the catalogue and preview jobs, so a voice loads once.
type SharedBank = Arc<Mutex<Option<(Device, VoiceBank)>>>;

/// What the last preview was.
#[derive(Clone, Debug, PartialEq)]
pub struct Heard {
    pub character: CharacterId,
    pub seconds: f32,
    /// The engine that spoke (`piper:en-us-joe-medium`, `espeak:en-us`, `silent`).
    pub voice: String,
    /// The device it played on, or why it could not play.
    pub played: Result<String, String>,
}

/// The Cast panel's state that is not in the document.
#[derive(Default)]
pub struct CastState {
    pub catalogue: Option<Catalogue>,
    catalogue_job: Option<JobId>,
    bank: SharedBank,
    /// The preview being rendered, and for whom.
    pub previewing: Option<(JobId, CharacterId)>,
    pub heard: Option<Heard>,
    /// Why the last preview failed.
    pub failed: Option<(CharacterId, String)>,
}

impl std::fmt::Debug for CastState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CastState")
            .field("voices", &self.catalogue.as_ref().map(|c| c.voices.len()))
            .field("previewing", &self.previewing)
            .field("heard", &self.heard)
            .finish_non_exhaustive()
    }
}

struct CatalogueDone(Catalogue);

struct PreviewDone {
    samples: Vec<f32>,
    rate: u32,
    voice: String,
}

fn with_bank<T>(
    shared: &SharedBank,
    device: Device,
    work: impl FnOnce(&mut VoiceBank) -> T,
) -> Result<T, JobError> {
    let mut guard = shared
        .lock()
        .map_err(|_| JobError::failed("an earlier voice job failed badly; restart the studio"))?;
    match guard.as_mut() {
        Some((d, bank)) if *d == device => Ok(work(bank)),
        _ => {
            let choice = crate::settings::device_choice(device);
            let (_, bank) = guard.insert((device, VoiceBank::discover(choice)));
            Ok(work(bank))
        }
    }
}

impl Studio {
    /// Finds the castable voices in the background, once.
    pub fn request_voice_catalogue(&mut self) {
        if self.cast.catalogue.is_some() || self.cast.catalogue_job.is_some() {
            return;
        }
        let shared = self.cast.bank.clone();
        let device = self.settings.device;
        let spec =
            JobSpec::new(JobKind::Voices, "Find voices").with_priority(Priority::Interactive);
        let id = self.jobs.submit(spec, move |ctx| {
            ctx.progress(0.0, "asking espeak-ng and the model folders");
            let catalogue = with_bank(&shared, device, |bank| bank.catalogue())?;
            let summary = format!("{} voices", catalogue.voices.len());
            Ok(JobOutput::new(summary).with_data(CatalogueDone(catalogue)))
        });
        self.cast.catalogue_job = Some(id);
    }

    /// Speaks `character`'s first line as `casting` and plays it; a new preview replaces one
    /// in flight.
    pub fn preview_voice(&mut self, character: CharacterId, casting: Casting) {
        let Some(doc) = self.doc() else { return };
        let project: Project = doc.clone();
        if let Some((job, _)) = self.cast.previewing.take() {
            self.jobs.cancel(job);
        }
        self.media.stop_preview();
        self.cast.failed = None;
        let shared = self.cast.bank.clone();
        let device = self.settings.device;
        let rate = project.settings.audio_sample_rate;
        let name = project
            .script
            .character(character)
            .map_or_else(|| "a character".to_owned(), |c| c.name.clone());
        let spec = JobSpec::new(JobKind::Voices, format!("Preview {name}'s voice"))
            .with_priority(Priority::Interactive);
        let id = self.jobs.submit(spec, move |ctx| {
            ctx.progress(0.1, format!("speaking as {}", casting.voice));
            let rendered = with_bank(&shared, device, |bank| {
                previz_voices::preview(bank, &project, character, &casting, rate)
            })?
            .map_err(|e| JobError::failed(e.to_string()))?;
            ctx.check()?;
            let voice = rendered.engine.label();
            Ok(JobOutput::new(voice.clone()).with_data(PreviewDone {
                samples: rendered.samples,
                rate: rendered.rate,
                voice,
            }))
        });
        self.cast.previewing = Some((id, character));
    }

    /// Takes a finished catalogue or preview job; false if it is not one of those.
    pub(crate) fn deliver_cast(&mut self, finished: &mut Finished) -> bool {
        if self.cast.catalogue_job == Some(finished.id) {
            self.cast.catalogue_job = None;
            match &mut finished.result {
                Ok(output) => {
                    if let Some(CatalogueDone(c)) = output.take_data::<CatalogueDone>() {
                        self.cast.catalogue = Some(c);
                    }
                }
                Err(e) => {
                    // Offer silence rather than nothing, and say why.
                    self.cast.catalogue = Some(Catalogue {
                        notes: vec![format!("finding voices failed: {e}")],
                        ..Catalogue::default()
                    });
                }
            }
            return true;
        }
        let Some((job, character)) = self.cast.previewing else {
            return false;
        };
        if job != finished.id {
            return false;
        }
        self.cast.previewing = None;
        match &mut finished.result {
            Ok(output) => {
                if let Some(done) = output.take_data::<PreviewDone>() {
                    #[allow(clippy::cast_precision_loss)]
                    let seconds = done.samples.len() as f32 / done.rate.max(1) as f32;
                    let played = self.media.play_preview(done.samples, done.rate);
                    self.cast.heard = Some(Heard {
                        character,
                        seconds,
                        voice: done.voice,
                        played,
                    });
                }
            }
            Err(JobError::Cancelled) => {}
            Err(JobError::Failed { message, .. }) => {
                self.cast.failed = Some((character, message.clone()));
            }
        }
        true
    }
}
