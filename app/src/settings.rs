//! The studio's settings are the workstation's (`previz_storage::settings`): models, device,
//! share and cache paths, theme, recent projects, in one TOML file in the user's config folder
//! that the CLI reads too. A damaged file is set aside and defaults are used, with a notice.

pub use previz_storage::settings::{Device, Settings as StudioSettings, Theme};

use previz_models::device::DeviceChoice;

/// The settings' device as the model runtimes take it.
#[must_use]
pub fn device_choice(device: Device) -> DeviceChoice {
    match device {
        Device::Cpu => DeviceChoice::Cpu,
        Device::Cuda => DeviceChoice::Cuda(0),
        Device::Auto => DeviceChoice::Auto,
    }
}
