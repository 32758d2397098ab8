//! Latency histograms (microseconds) of one worker: recorded into worker-local copies, and
//! published to readers about once a second.
//!
//! Why publishing on a timer rather than a seqlock or a double buffer: an hdrhistogram is a
//! few thousand buckets, so a seqlock reader would copy all of them and retry whenever the
//! worker recorded meanwhile (every request, under load), and a double buffer still needs
//! the worker to copy the live side into the spare. Recording stays a plain increment in
//! worker memory; once a second the worker copies each changed histogram into its published
//! slot under `try_lock`, skipping the slot (until the next second) when a reader holds it.
//! The worker never waits, readers never see a torn histogram, and a reader's view is at
//! most a second old.

use std::cell::{Cell, RefCell};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest value recorded, in microseconds; longer times count as this.
const HIGHEST_US: u64 = 3_600_000_000;
/// Significant digits kept: 1% precision.
const SIGFIG: u8 = 2;

/// A new empty microsecond histogram.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGFIG).expect("valid histogram bounds")
}

/// The two latencies kept per backend and per server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Time to get a server connection (`Tc`).
    Connect,
    /// Time from the request sent to the response head received (`Tr`).
    Response,
}

/// What readers see of one histogram.
#[derive(Debug)]
pub struct Published(Mutex<Histogram<u64>>);

impl Default for Published {
    fn default() -> Self {
        Self(Mutex::new(new_histogram()))
    }
}

impl Published {
    /// Adds the published values into `into`.
    pub fn add_to(&self, into: &mut Histogram<u64>) {
        let h = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = into.add(&*h);
    }
}

/// A worker's live copy of one histogram.
#[derive(Debug)]
pub struct Local {
    live: RefCell<Histogram<u64>>,
    dirty: Cell<bool>,
}

impl Default for Local {
    fn default() -> Self {
        Self {
            live: RefCell::new(new_histogram()),
            dirty: Cell::new(false),
        }
    }
}

impl Local {
    #[inline]
    pub fn record(&self, d: Duration) {
        let us = (d.as_micros() as u64).max(1);
        self.live.borrow_mut().saturating_record(us);
        self.dirty.set(true);
    }

    /// Copies the live values to `to` when they changed and no reader holds it.
    pub fn publish(&self, to: &Published) {
        if !self.dirty.get() {
            return;
        }
        if let Ok(mut p) = to.0.try_lock() {
            p.reset();
            let _ = p.add(&*self.live.borrow());
            self.dirty.set(false);
        }
    }

    pub fn count(&self) -> u64 {
        self.live.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_copies_the_live_values_once_changed() {
        let (l, p) = (Local::default(), Published::default());
        l.record(Duration::from_micros(500));
        l.record(Duration::from_millis(3));
        let seen = |p: &Published| {
            let mut h = new_histogram();
            p.add_to(&mut h);
            h
        };
        assert_eq!(seen(&p).len(), 0, "nothing published before the tick");
        l.publish(&p);
        let h = seen(&p);
        assert_eq!(h.len(), 2);
        assert!(h.max() >= 2_990 && h.max() <= 3_010, "{}", h.max());
        l.record(Duration::from_micros(1));
        l.publish(&p);
        assert_eq!(
            seen(&p).len(),
            3,
            "published values replace, not accumulate"
        );
    }

    #[test]
    fn a_held_slot_is_skipped_without_waiting() {
        let (l, p) = (Local::default(), Published::default());
        l.record(Duration::from_micros(10));
        let guard = p.0.lock().unwrap();
        l.publish(&p);
        drop(guard);
        l.publish(&p);
        let mut h = new_histogram();
        p.add_to(&mut h);
        assert_eq!(h.len(), 1, "published on the next tick");
    }
}
