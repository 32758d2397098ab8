//! The proxy's built-in HTTP services on a client connection: the stats page (HTML,
//! `;csv`, admin form posts answered with 303) and the Prometheus exporter. Each answer is
//! built on request from one snapshot of the counters.

use crate::analysis::stats_page::{parse_form, ActionOutcome, StatsPage};
use crate::codec::framing::{BodyKind, RequestFraming};
use crate::codec::head::RequestHead;
use crate::io::timed::{read_more, ReadOutcome};
use crate::sessions::http::session::{Next, Session, Termination};
use crate::sessions::router::Router;

/// Largest admin form body read; HAProxy's forms are a few hundred bytes.
const FORM_LIMIT: u64 = 8 * 1024;

/// One complete response: status line, headers, body.
fn response(status: u16, headers: &[(&str, &str)], body: &[u8], close: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\n",
        crate::codec::status::reason(status)
    );
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

impl<'a, R: Router> Session<'a, R> {
    /// Answers a request for the stats page of `page`.
    pub(super) async fn serve_stats(
        &mut self,
        head: RequestHead,
        framing: RequestFraming,
        page: &StatsPage,
        admin: bool,
        keep: bool,
    ) -> Next {
        let Some(ctx) = self.router.stats() else {
            return Next::Close(self.fail(503, Termination::NoServer, None).await);
        };
        let target = self.request_bytes(&head.target);
        let is_post = self.request_bytes(&head.method) == b"POST";
        let is_head = framing.is_head;
        let (bytes, status, close) = if is_post {
            let body = match self.read_form(&head, framing).await {
                Ok(b) => b,
                Err(t) => return Next::Close(t),
            };
            let outcome = match parse_form(&body) {
                _ if !admin => ActionOutcome::Denied,
                Some(form) => ctx.apply_form(page, &form),
                None => ActionOutcome::BadRequest,
            };
            let location = format!("{};st={}", page.uri, outcome.code());
            let reply = response(
                303,
                &[("Location", &location), ("Cache-Control", "no-cache")],
                b"",
                !keep,
            );
            (reply, 303, !keep)
        } else {
            let opts = page.options(&target);
            let (body, ctype) = if opts.csv {
                (ctx.csv(page, &opts), "text/plain")
            } else {
                (ctx.html(page, &opts, admin), "text/html")
            };
            // `stats refresh`: HAProxy sends the delay as a `Refresh` header, CSV included.
            let refresh = page
                .refresh
                .filter(|_| !opts.no_refresh)
                .map(|r| r.as_secs().max(1).to_string());
            let mut headers = vec![("Content-Type", ctype), ("Cache-Control", "no-cache")];
            if let Some(r) = &refresh {
                headers.push(("Refresh", r.as_str()));
            }
            let mut reply = response(200, &headers, body.as_bytes(), !keep);
            if is_head {
                let head_end = reply.len() - body.len();
                reply.truncate(head_end);
            }
            (reply, 200, !keep || framing.body != BodyKind::None)
        };
        self.reply_and_continue(bytes, status, (close, Termination::Normal), head.len)
            .await
    }

    /// Answers `use-service prometheus-exporter`.
    pub(super) async fn serve_prometheus(
        &mut self,
        head: RequestHead,
        framing: RequestFraming,
        keep: bool,
    ) -> Next {
        let Some(ctx) = self.router.stats() else {
            return Next::Close(self.fail(503, Termination::NoServer, None).await);
        };
        let body = ctx.prometheus();
        let mut reply = response(
            200,
            &[
                ("Content-Type", "text/plain; version=0.0.4"),
                ("Cache-Control", "no-cache"),
            ],
            body.as_bytes(),
            !keep,
        );
        if framing.is_head {
            let head_end = reply.len() - body.len();
            reply.truncate(head_end);
        }
        self.reply_and_continue(reply, 200, (!keep, Termination::Normal), head.len)
            .await
    }

    fn request_bytes(&self, r: &std::ops::Range<usize>) -> Vec<u8> {
        self.inbuf_bytes()
            .get(r.clone())
            .unwrap_or_default()
            .to_vec()
    }

    /// Reads an admin form body (`Content-Length`, at most [`FORM_LIMIT`] bytes) and drops
    /// it from the client buffer with the head.
    async fn read_form(
        &mut self,
        head: &RequestHead,
        framing: RequestFraming,
    ) -> Result<Vec<u8>, Termination> {
        let len = match framing.body {
            BodyKind::None => 0,
            BodyKind::Length(n) if n <= FORM_LIMIT => n as usize,
            _ => return Err(self.fail(400, Termination::BadRequest, None).await),
        };
        let end = head.len + len;
        while self.inbuf_bytes().len() < end {
            let buf = self.take_inbuf();
            let (outcome, buf) = read_more(&mut self.client, buf, self.fe.timeouts.client).await;
            self.put_inbuf(buf);
            match outcome {
                ReadOutcome::Data(n) => self.summary.bytes_in += n as u64,
                ReadOutcome::Timeout => {
                    return Err(self.fail(408, Termination::ClientTimeout, None).await)
                }
                _ => return Err(Termination::ClientAborted),
            }
        }
        let body = self.inbuf_bytes()[head.len..end].to_vec();
        // The head is dropped with the reply; the body goes now.
        self.drop_request_range(head.len, end);
        Ok(body)
    }
}
