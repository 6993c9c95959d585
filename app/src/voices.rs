//! "Voices" in the studio: the dialogue (or one scene's) spoken as a background job.
//!
//! Characters without a voice are cast (the chosen voice model, else the first installed,
//! else espeak-ng's, else silent timing); each line becomes a WAV take in the project's asset
//! store and the edit is re-timed to the measured takes. It lands as one undo step when the
//! job ends; cancelled, the lines done so far land (running it again keeps them).

use previz_core::Project;
use previz_jobs::{JobContext, JobError, JobOutput};
use previz_storage::AssetStore;
use previz_voices::{LineStatus, VoiceBank, VoicesOptions, run_voices};

use crate::settings::Device;

/// The job's work: the batch to land and a summary.
pub fn run(
    project: &Project,
    store: &AssetStore,
    scene: Option<usize>,
    voice: Option<String>,
    device: Device,
    ctx: &JobContext,
) -> Result<JobOutput, JobError> {
    ctx.progress(0.0, "finding voices");
    let mut bank = VoiceBank::discover(crate::settings::device_choice(device));
    if !bank.has_espeak() {
        ctx.log("espeak-ng is not installed: lines get silent clips timed at reading speed (apt install espeak-ng)");
    }
    let options = VoicesOptions {
        scenes: scene.map(|i| vec![i]),
        force: false,
        seed: 0,
        default_voice: voice,
        lines: None,
    };
    let (command, summary) = run_voices(project, &mut bank, store, &options, ctx, |o| {
        if o.status == LineStatus::Voiced {
            ctx.log(format!("{}: {:.1} s ({})", o.cue, o.seconds, o.voice));
        }
    })
    .map_err(|e| JobError::failed(e.to_string()))?;
    let text = format!(
        "{} lines voiced ({:.1} s), {} up to date, {} characters cast{}",
        summary.voiced,
        summary.seconds,
        summary.kept,
        summary.cast,
        if summary.cancelled {
            " (cancelled: the lines done are kept)"
        } else {
            ""
        }
    );
    Ok(JobOutput::new(text).with_commands(command.into_iter().collect()))
}
