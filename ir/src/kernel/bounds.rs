//! Bounds proofs (being written).
