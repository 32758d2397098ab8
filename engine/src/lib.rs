//! ringlb: the data plane and the command line, in layers that depend one way only: a
//! module names only the modules declared above it here (`engine/tests/layers.rs` checks
//! it; docs/ARCHITECTURE.md says what each layer holds).

// Buffers, reads and writes under a timeout, the latch, local time, user lookups.
pub mod io;

// The HTTP/1 codec: heads, framing, chunked bodies, rewriting, status reasons.
pub mod codec;

// The stream value: transaction, samples, variables, termination.
pub mod stream;

// Per-worker counters and latency histograms.
pub mod metrics;

// ACLs and fetches, rules, error pages and replies, log-format, unique ID, HTTP settings.
pub mod analysis;

// Log targets, framing and writers; the observer that ends every stream.
pub mod log;

// Servers, balancing, persistence, queues, pools, connecting; the upstream seam.
pub mod backend;

// The HTTP/1 session and the TCP session, and the router trait they reach a worker by.
pub mod sessions;

// One event loop per core: listeners, accept, dispatch by mode, the inbox.
pub mod worker;

// Stats page and exports, runtime API, the health checker's link to the workers.
pub mod services;

// Configuration to running workers, command line, signals, lifecycle.
pub mod boot;
