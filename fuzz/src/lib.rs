//! Fuzzing ringlb: the target bodies live in `targets.rs`, which the stable test suite also
//! includes to replay the committed corpora.

pub mod targets;
