//! How the process's allocator treats tensor-sized buffers.
//!
//! Every candle operation allocates its output afresh. glibc serves an allocation above its mmap
//! threshold (dynamic, at most 32 MiB) with a new `mmap` and returns it with `munmap` on free, so
//! each attention score matrix, im2col buffer or activation of a large frame costs a page fault
//! per 4 KiB on first touch and a TLB shootdown on release. Measured on the diffusion bench
//! (`scripts/bench-diffusion.sh`, 2 threads): page faults and unmapping were about a quarter of a
//! UNet step; with the heap kept, a UNet step took 0.67x and a VAE decode 0.58x the time.
//!
//! [`keep_tensor_buffers`] raises the mmap threshold to 256 MiB (buffers below it come from the
//! heap and are reused) and lets up to 512 MiB of freed memory stay at the heap's top instead of
//! being trimmed. Larger single buffers (a whole model's embedding table, say) are still mapped
//! and returned to the system when freed, and memory freed below the top is reused by the next
//! allocations, so a model evicted by the pool makes room for the next one.
//!
//! Binaries call it once at start (`previz`, the studio, the benches); libraries never do.

/// The mmap threshold set by [`keep_tensor_buffers`].
pub const MMAP_THRESHOLD_BYTES: usize = 256 << 20;
/// The most freed memory kept at the top of the heap.
pub const TRIM_THRESHOLD_BYTES: usize = 512 << 20;

/// Tune the allocator for tensor work (see the module docs). Returns whether the allocator took
/// the settings: false off glibc, where the system allocator is left as it is.
pub fn keep_tensor_buffers() -> bool {
    imp::keep_tensor_buffers()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use super::{MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES};

    #[allow(unsafe_code)]
    pub fn keep_tensor_buffers() -> bool {
        let mmap = i32::try_from(MMAP_THRESHOLD_BYTES).unwrap_or(i32::MAX);
        let trim = i32::try_from(TRIM_THRESHOLD_BYTES).unwrap_or(i32::MAX);
        // SAFETY: mallopt takes two integers and only changes glibc's own tuning parameters
        // (under the arena lock); it touches no memory of ours and is callable at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, mmap) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, trim) == 1
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn keep_tensor_buffers() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibc_takes_the_settings() {
        // mallopt answers 1 only when it accepted the value (older glibc refused an mmap
        // threshold above 32 MiB): this fails if the settings stop taking effect.
        let took = super::keep_tensor_buffers();
        assert_eq!(took, cfg!(all(target_os = "linux", target_env = "gnu")));
    }
}
