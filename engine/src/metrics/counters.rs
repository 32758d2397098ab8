//! One cache-line-padded block of counters per proxy, server and worker: written by its
//! worker alone with relaxed loads and stores, read by anyone, summed into snapshots.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Adds `n` to a counter only this thread writes. A relaxed load and store instead of
/// `fetch_add`: with a single writer nothing can be lost, and no locked instruction is paid.
#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Raises a peak only this thread writes to `v` when `v` is higher.
#[inline]
fn raise(max: &AtomicU64, v: u64) {
    if v > max.load(Relaxed) {
        max.store(v, Relaxed);
    }
}

/// Methods that count one event in one counter: `name => field`.
macro_rules! one_event {
    ($($name:ident => $field:ident;)*) => {
        $(
            #[inline]
            pub fn $name(&self) {
                bump(&self.$field, 1);
            }
        )*
    };
}

/// Response classes: 1xx..5xx, then anything else (including no response at all).
pub const RESPONSE_CLASSES: usize = 6;

/// Counters of one frontend, backend or server in one worker. Aligned to 128 bytes (two
/// cache lines, for the adjacent-line prefetcher) so that blocks of different workers
/// never share a line: a worker's writes never invalidate another worker's cache.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Counters {
    sess_cur: AtomicU64,
    sess_max: AtomicU64,
    sess_total: AtomicU64,
    /// The worker tick (seconds) `rate_cur` counts in, and the count of the tick before.
    rate_tick: AtomicU64,
    rate_cur: AtomicU64,
    rate_prev: AtomicU64,
    rate_max: AtomicU64,
    req_total: AtomicU64,
    responses: [AtomicU64; RESPONSE_CLASSES],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    denied_req: AtomicU64,
    denied_resp: AtomicU64,
    err_req: AtomicU64,
    err_conn: AtomicU64,
    err_resp: AtomicU64,
    retries: AtomicU64,
    redispatches: AtomicU64,
    queue_cur: AtomicU64,
    queue_max: AtomicU64,
    /// TLS handshakes completed, of them resumed, and failed.
    tls_handshakes: AtomicU64,
    tls_resumed: AtomicU64,
    tls_failures: AtomicU64,
    /// HTTP/2 connections ended, and of them those ended for the client's misbehaviour (a
    /// GOAWAY with an error: a protocol error, a flood, a limit pushed).
    h2_conns: AtomicU64,
    h2_errors: AtomicU64,
}

impl Counters {
    /// A session (connection, or a request forwarded to a backend/server) starts. `tick` is
    /// the worker's current second, for the session rate.
    #[inline]
    pub fn session_start(&self, tick: u64) {
        let cur = self.sess_cur.load(Relaxed) + 1;
        self.sess_cur.store(cur, Relaxed);
        raise(&self.sess_max, cur);
        bump(&self.sess_total, 1);
        let last = self.rate_tick.load(Relaxed);
        if last != tick {
            // A new second: the finished one becomes the rate (zero if seconds were skipped).
            let prev = if last + 1 == tick {
                self.rate_cur.load(Relaxed)
            } else {
                0
            };
            self.rate_prev.store(prev, Relaxed);
            self.rate_tick.store(tick, Relaxed);
            self.rate_cur.store(0, Relaxed);
        }
        let n = self.rate_cur.load(Relaxed) + 1;
        self.rate_cur.store(n, Relaxed);
        raise(&self.rate_max, n);
    }

    #[inline]
    pub fn session_end(&self) {
        let cur = self.sess_cur.load(Relaxed);
        self.sess_cur.store(cur.saturating_sub(1), Relaxed);
    }

    one_event! {
        request => req_total;
        denied_request => denied_req;
        denied_response => denied_resp;
        request_error => err_req;
        connection_error => err_conn;
        response_error => err_resp;
        retry => retries;
        redispatch => redispatches;
        tls_failure => tls_failures;
    }

    /// An HTTP/2 connection ended (`misbehaved`: with a GOAWAY for the client's errors).
    #[inline]
    pub fn h2_ended(&self, misbehaved: bool) {
        bump(&self.h2_conns, 1);
        if misbehaved {
            bump(&self.h2_errors, 1);
        }
    }

    /// A TLS handshake completed (`resumed`: from a ticket or the session cache).
    #[inline]
    pub fn tls_handshake(&self, resumed: bool) {
        bump(&self.tls_handshakes, 1);
        if resumed {
            bump(&self.tls_resumed, 1);
        }
    }

    /// A response with `status` was sent (`None`: the exchange ended without one).
    #[inline]
    pub fn response(&self, status: Option<u16>) {
        let class = match status {
            Some(s @ 100..=599) => (s / 100 - 1) as usize,
            _ => RESPONSE_CLASSES - 1,
        };
        bump(&self.responses[class], 1);
    }

    #[inline]
    pub fn bytes(&self, from_client: u64, to_client: u64) {
        if from_client > 0 {
            bump(&self.bytes_in, from_client);
        }
        if to_client > 0 {
            bump(&self.bytes_out, to_client);
        }
    }

    /// A request entered (`+1`) or left (`-1`) this proxy's or server's queue.
    #[inline]
    pub fn queue(&self, delta: i64) {
        let cur = self.queue_cur.load(Relaxed).saturating_add_signed(delta);
        self.queue_cur.store(cur, Relaxed);
        raise(&self.queue_max, cur);
    }

    /// Sessions being served now by this worker.
    pub fn current(&self) -> u64 {
        self.sess_cur.load(Relaxed)
    }

    /// Adds this block's values into `into`; `tick` is the owning worker's current second.
    pub fn add_to(&self, into: &mut CounterSnapshot, tick: u64) {
        let l = |c: &AtomicU64| c.load(Relaxed);
        into.sess_cur += l(&self.sess_cur);
        into.sess_max += l(&self.sess_max);
        into.sess_total += l(&self.sess_total);
        let rate_tick = l(&self.rate_tick);
        into.sess_rate += if rate_tick == tick {
            l(&self.rate_prev)
        } else if rate_tick + 1 == tick {
            l(&self.rate_cur)
        } else {
            0
        };
        into.sess_rate_max += l(&self.rate_max);
        into.req_total += l(&self.req_total);
        for (i, r) in self.responses.iter().enumerate() {
            into.responses[i] += l(r);
        }
        into.bytes_in += l(&self.bytes_in);
        into.bytes_out += l(&self.bytes_out);
        into.denied_req += l(&self.denied_req);
        into.denied_resp += l(&self.denied_resp);
        into.err_req += l(&self.err_req);
        into.err_conn += l(&self.err_conn);
        into.err_resp += l(&self.err_resp);
        into.retries += l(&self.retries);
        into.redispatches += l(&self.redispatches);
        into.queue_cur += l(&self.queue_cur);
        into.queue_max += l(&self.queue_max);
        into.tls_handshakes += l(&self.tls_handshakes);
        into.tls_resumed += l(&self.tls_resumed);
        into.tls_failures += l(&self.tls_failures);
        into.h2_conns += l(&self.h2_conns);
        into.h2_errors += l(&self.h2_errors);
    }
}

/// Counters summed over every worker. Maxima are the sum of each worker's maximum: an upper
/// bound of the process-wide peak, which the workers never observe together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub sess_cur: u64,
    pub sess_max: u64,
    pub sess_total: u64,
    /// Sessions started during the last whole second.
    pub sess_rate: u64,
    pub sess_rate_max: u64,
    pub req_total: u64,
    /// Responses by class: `[1xx, 2xx, 3xx, 4xx, 5xx, other]`.
    pub responses: [u64; RESPONSE_CLASSES],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub denied_req: u64,
    pub denied_resp: u64,
    pub err_req: u64,
    pub err_conn: u64,
    pub err_resp: u64,
    pub retries: u64,
    pub redispatches: u64,
    pub queue_cur: u64,
    pub queue_max: u64,
    pub tls_handshakes: u64,
    pub tls_resumed: u64,
    pub tls_failures: u64,
    pub h2_conns: u64,
    pub h2_errors: u64,
}

impl CounterSnapshot {
    /// Responses of status class `n` (1..=5).
    pub fn class(&self, n: usize) -> u64 {
        self.responses[n - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_across_blocks_and_classify_responses() {
        let (a, b) = (Counters::default(), Counters::default());
        a.session_start(1);
        a.session_start(1);
        a.session_end();
        b.session_start(1);
        a.response(Some(200));
        b.response(Some(404));
        b.response(Some(503));
        b.response(None);
        a.bytes(10, 100);
        b.bytes(5, 0);
        let mut s = CounterSnapshot::default();
        a.add_to(&mut s, 1);
        b.add_to(&mut s, 1);
        assert_eq!((s.sess_cur, s.sess_total, s.sess_max), (2, 3, 3));
        assert_eq!(s.responses, [0, 1, 0, 1, 1, 1]);
        assert_eq!((s.bytes_in, s.bytes_out), (15, 100));
    }

    #[test]
    fn session_rate_reports_the_last_whole_second() {
        let c = Counters::default();
        for _ in 0..3 {
            c.session_start(7);
        }
        let rate = |tick| {
            let mut s = CounterSnapshot::default();
            c.add_to(&mut s, tick);
            s.sess_rate
        };
        assert_eq!(rate(8), 3, "second 7 is over: its 3 sessions are the rate");
        assert_eq!(rate(9), 0, "nothing happened in second 8");
        c.session_start(8);
        assert_eq!(rate(8), 3, "second 8 still running: the rate is second 7's");
        assert_eq!(c.rate_max.load(Relaxed), 3);
    }

    #[test]
    fn blocks_do_not_share_cache_lines() {
        assert_eq!(std::mem::align_of::<Counters>(), 128);
        assert_eq!(std::mem::size_of::<Counters>() % 128, 0);
    }
}
