//! The session's counting and logging: what each exchange reports to the worker's observer.

use crate::log::observer::ExchangeEnd;
use crate::sessions::http::session::Session;
use crate::sessions::router::Router;
use crate::stream::termination::Termination;

/// Counting and logging hooks of the request path: each is a few field writes, and the log
/// line itself is built only for frontends that log.
impl<'a, R: Router> Session<'a, R> {
    pub(super) fn trace_begin(&mut self) {
        let logging = self.obs.is_some_and(|(o, fe)| o.frontend_log(fe).is_some());
        self.trace
            .begin(logging, (self.summary.bytes_in, self.summary.bytes_out));
    }

    pub(super) fn trace_response(&mut self, sbuf: &[u8], resp: &crate::codec::head::ResponseHead) {
        let Some((o, fe)) = self.obs else {
            return;
        };
        o.response_received(&mut self.trace);
        if let Some(plan) = o.frontend_log(fe) {
            for (name, len) in &plan.response_captures {
                let v = crate::codec::head::values(sbuf, &resp.headers, name).last();
                self.trace
                    .response_captures
                    .push(v.map(|v| v[..v.len().min(*len)].to_vec()));
            }
        }
    }

    /// The connection ended while waiting for a request head. A keep-alive connection
    /// closing between requests is no exchange; a first request that never came, a head
    /// refused (400) or too slow (408), or one the client left half sent, is.
    pub(super) fn trace_end_without_request(&mut self, t: Termination) {
        let first = self.summary.requests == 0;
        let answered = matches!(t, Termination::BadRequest | Termination::ClientTimeout);
        let partial = self.summary.bytes_in > self.trace.in0;
        if !(first || answered || partial) {
            return;
        }
        let t = match t {
            Termination::Normal | Termination::IdleTimeout => Termination::ClientAborted,
            t => t,
        };
        self.trace_end(t);
    }

    pub(super) fn trace_end(&mut self, termination: Termination) {
        let Some((o, fe)) = self.obs else {
            return;
        };
        let end = ExchangeEnd {
            termination,
            status: self.summary.last_status,
            bytes_in: self.summary.bytes_in,
            bytes_out: self.summary.bytes_out,
            peer: self.peer,
            local: self.local,
            frontend: &self.fe.name,
            vars: Some(&self.vars),
            tls: self.client.tls(),
            h2: self.client.mux().is_some(),
        };
        o.finish_request(fe, &end, &mut self.trace);
    }
}
