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

/// Events per second of one worker: the count of the second running and of the one
/// before, and the highest count of a whole second seen.
#[derive(Debug, Default)]
struct Rate {
    /// The worker tick (seconds) `cur` counts in.
    tick: AtomicU64,
    cur: AtomicU64,
    prev: AtomicU64,
    max: AtomicU64,
}

impl Rate {
    /// Counts one event in second `tick`.
    #[inline]
    fn hit(&self, tick: u64) {
        let last = self.tick.load(Relaxed);
        if last != tick {
            // A new second: the finished one becomes the rate (zero if seconds were skipped).
            let prev = if last + 1 == tick {
                self.cur.load(Relaxed)
            } else {
                0
            };
            self.prev.store(prev, Relaxed);
            self.tick.store(tick, Relaxed);
            self.cur.store(0, Relaxed);
        }
        let n = self.cur.load(Relaxed) + 1;
        self.cur.store(n, Relaxed);
        raise(&self.max, n);
    }

    /// The events of the last whole second before `tick`.
    fn last_second(&self, tick: u64) -> u64 {
        let at = self.tick.load(Relaxed);
        if at == tick {
            self.prev.load(Relaxed)
        } else if at + 1 == tick {
            self.cur.load(Relaxed)
        } else {
            0
        }
    }

    fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }
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
    /// Sessions started per second.
    sess_rate: Rate,
    req_total: AtomicU64,
    /// HTTP requests per second.
    req_rate: Rate,
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
        self.sess_rate.hit(tick);
    }

    /// An HTTP request was received; `tick` as for [`Counters::session_start`].
    #[inline]
    pub fn request(&self, tick: u64) {
        bump(&self.req_total, 1);
        self.req_rate.hit(tick);
    }

    #[inline]
    pub fn session_end(&self) {
        let cur = self.sess_cur.load(Relaxed);
        self.sess_cur.store(cur.saturating_sub(1), Relaxed);
    }

    one_event! {
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

    /// `clear counters`: the peaks start again. Written from the reader's thread: a race
    /// with the worker's own update loses at most that one update of a peak.
    pub fn clear_maxima(&self) {
        self.sess_max.store(0, Relaxed);
        self.queue_max.store(0, Relaxed);
        self.sess_rate.max.store(0, Relaxed);
        self.req_rate.max.store(0, Relaxed);
    }

    /// Sessions being served now by this worker.
    pub fn current(&self) -> u64 {
        self.sess_cur.load(Relaxed)
    }

    /// Adds this block's values into `into`; `tick` is the owning worker's current second.
    pub fn add_to(&self, into: &mut CounterSnapshot, tick: u64) {
        let l = |c: &AtomicU64| c.load(Relaxed);
        into.sess_cur += l(&self.sess_cur);
        into.sess_max = into.sess_max.max(l(&self.sess_max));
        into.sess_total += l(&self.sess_total);
        into.sess_rate += self.sess_rate.last_second(tick);
        into.sess_rate_max = into.sess_rate_max.max(self.sess_rate.max());
        into.req_total += l(&self.req_total);
        into.req_rate += self.req_rate.last_second(tick);
        into.req_rate_max = into.req_rate_max.max(self.req_rate.max());
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
        into.queue_max = into.queue_max.max(l(&self.queue_max));
        into.tls_handshakes += l(&self.tls_handshakes);
        into.tls_resumed += l(&self.tls_resumed);
        into.tls_failures += l(&self.tls_failures);
        into.h2_conns += l(&self.h2_conns);
        into.h2_errors += l(&self.h2_errors);
    }
}

/// Counters summed over every worker. Maxima are the highest any one worker saw: the workers
/// never observe a process-wide peak together, and a sum of their peaks would claim one that
/// may never have happened; the highest single peak did happen (a lower bound of the truth).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub sess_cur: u64,
    pub sess_max: u64,
    pub sess_total: u64,
    /// Sessions started during the last whole second.
    pub sess_rate: u64,
    pub sess_rate_max: u64,
    pub req_total: u64,
    /// HTTP requests received during the last whole second, and the highest such count.
    pub req_rate: u64,
    pub req_rate_max: u64,
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
    /// The counters that only grow (not gauges, rates or peaks).
    fn totals_mut(&mut self) -> [&mut u64; 14] {
        [
            &mut self.sess_total,
            &mut self.req_total,
            &mut self.bytes_in,
            &mut self.bytes_out,
            &mut self.denied_req,
            &mut self.denied_resp,
            &mut self.err_req,
            &mut self.err_conn,
            &mut self.err_resp,
            &mut self.retries,
            &mut self.redispatches,
            &mut self.tls_handshakes,
            &mut self.tls_resumed,
            &mut self.tls_failures,
        ]
    }

    /// Takes away the totals of `base` (taken earlier from the same counters); gauges,
    /// rates and peaks stay as they are.
    pub fn subtract_totals(&mut self, base: &CounterSnapshot) {
        let before = base.clone().totals_mut().map(|v| *v);
        for (v, b) in self.totals_mut().into_iter().zip(before) {
            *v = v.saturating_sub(b);
        }
        for (r, b) in self.responses.iter_mut().zip(base.responses) {
            *r = r.saturating_sub(b);
        }
    }

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
        assert_eq!((s.sess_cur, s.sess_total, s.sess_max), (2, 3, 2));
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
        assert_eq!(c.sess_rate.max(), 3);
    }

    #[test]
    fn blocks_do_not_share_cache_lines() {
        assert_eq!(std::mem::align_of::<Counters>(), 128);
        assert_eq!(std::mem::size_of::<Counters>() % 128, 0);
    }
}
