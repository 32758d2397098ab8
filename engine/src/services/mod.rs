//! What runs beside the workers: the stats page and its exports, the runtime API, and the
//! health checker's link to the workers.

pub mod admin;
pub mod health;
pub mod stats;
