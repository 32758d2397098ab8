//! The stats page (HTML, CSV, admin actions), Prometheus export and the views they share.

pub mod applet;
pub mod csv;
pub mod html;
pub mod prometheus;
pub mod service;
pub mod typed;
pub mod view;
