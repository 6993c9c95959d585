//! Quantized matrix kernels for the CPU path. (In progress.)
