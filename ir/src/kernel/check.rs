//! Type checking of kernels (being written).
