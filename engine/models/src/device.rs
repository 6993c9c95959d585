//! Where inference runs: CPU by default, CUDA one cargo feature away.
//!
//! The studio's settings and the CLI's `--device` both name a [`DeviceChoice`]; [`resolve`]
//! turns it into a candle device or an error that says what to do (rebuild with `--features
//! cuda`, pick another GPU). Nothing outside this crate sees a candle type.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Serialize};

/// A user's choice of device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// CUDA if this build has it and a GPU answers, else CPU.
    #[default]
    Auto,
    Cpu,
    /// A CUDA GPU by ordinal.
    Cuda(usize),
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or(DeviceError::Unknown(s)),
        }
    }
}

/// Why a device cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("'{0}' is not a device; use cpu, cuda, cuda:N or auto")]
    Unknown(String),
    #[error(
        "this build has no CUDA support; rebuild with `cargo build --release --features cuda` (needs the CUDA toolkit) or choose the CPU"
    )]
    NotCompiled,
    #[error(
        "CUDA device {ordinal} is not usable: {detail}. Check nvidia-smi, or choose another GPU or the CPU"
    )]
    Unavailable { ordinal: usize, detail: String },
}

/// Whether this binary was built with the `cuda` feature.
#[must_use]
pub fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

/// The candle device for `choice`.
pub fn resolve(choice: DeviceChoice) -> Result<Device, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(if cuda_compiled() {
            Device::new_cuda(0).unwrap_or(Device::Cpu)
        } else {
            Device::Cpu
        }),
        DeviceChoice::Cuda(ordinal) => {
            if !cuda_compiled() {
                return Err(DeviceError::NotCompiled);
            }
            Device::new_cuda(ordinal).map_err(|e| DeviceError::Unavailable {
                ordinal,
                detail: e.to_string(),
            })
        }
    }
}

/// Memory a model needs against what the device has, so the studio can refuse to load two big
/// models onto one 24 GB card instead of failing halfway through a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    pub limit_mib: u64,
    pub used_mib: u64,
}

impl MemoryBudget {
    #[must_use]
    pub fn new(limit_mib: u64) -> Self {
        Self {
            limit_mib,
            used_mib: 0,
        }
    }

    /// Reserves `mib` if it fits; returns whether it did.
    pub fn reserve(&mut self, mib: u64) -> bool {
        if self.used_mib.saturating_add(mib) > self.limit_mib {
            return false;
        }
        self.used_mib += mib;
        true
    }

    pub fn release(&mut self, mib: u64) {
        self.used_mib = self.used_mib.saturating_sub(mib);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_choices() {
        for s in ["auto", "cpu", "cuda:1"] {
            assert_eq!(s.parse::<DeviceChoice>().unwrap().to_string(), s);
        }
        assert_eq!(
            "GPU".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(0)
        );
        assert!("tpu".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn cpu_always_resolves_and_cuda_says_why_not() {
        assert!(resolve(DeviceChoice::Cpu).unwrap().is_cpu());
        assert!(resolve(DeviceChoice::Auto).is_ok());
        if !cuda_compiled() {
            let e = resolve(DeviceChoice::Cuda(0)).unwrap_err();
            assert!(e.to_string().contains("--features cuda"));
        }
    }

    #[test]
    fn budget_refuses_what_does_not_fit() {
        let mut b = MemoryBudget::new(24_000);
        assert!(b.reserve(16_000));
        assert!(!b.reserve(10_000));
        b.release(16_000);
        assert!(b.reserve(10_000));
    }
}
