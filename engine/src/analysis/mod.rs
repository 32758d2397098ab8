//! Deciding about a stream: ACLs and sample fetches, http-request/response and tcp rules,
//! error pages and replies, log-format rendering and the unique ID, and the HTTP settings a
//! session takes from its frontend and backend.

pub mod acl;
pub mod decide;
pub mod errors;
pub mod log_line;
pub mod logformat;
pub mod replies;
pub mod rules;
pub mod settings;
pub mod stats_page;
pub mod unique_id;
