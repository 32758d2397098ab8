//! The response half of an exchange: reading the server's head (relaying interim 1xx and
//! releasing a body that waited for `100 Continue`), then relaying the response and deciding
//! whether each side's connection is kept.

use crate::analysis::decide::closes;
use crate::analysis::replies::{redirect_reply, spec_reply};
use crate::analysis::rules::ResponseVerdict;
use crate::analysis::settings::HttpBackend;
use crate::backend::persist::{edit_response, Seen};
use crate::backend::upstream::{Upstream, UpstreamConn};
use crate::codec::body::{discard_body, forward_body, BodyError, BodyTimeouts};
use crate::codec::conn_mode::{ConnectionTokens, ExchangePlan};
use crate::codec::edits::HeadEdits;
use crate::codec::framing::{response_framing, BodyKind, RequestFraming};
use crate::codec::head::{parse_response, ResponseHead, Version};
use crate::codec::rewrite::{write_response_head, ResponseRewrite};
use crate::codec::upgrade::switches;
use crate::io::timed::{read_more, ReadOutcome};
use crate::sessions::http::session::{Forwarded, Next, Session, Termination};
use crate::sessions::router::Router;
use crate::stream::txn::Txn;
use ringlb_checks::Outcome;

pub(super) enum RespError {
    /// The server closed before sending a single byte.
    Empty,
    /// The server closed after part of a head.
    Cut,
    Invalid,
    Timeout,
    /// The exchange already ended on the client side or with an answer sent.
    Gone(Termination),
}

/// What a response head (or the failure to read one) tells `observe layer7`. A pooled
/// connection found closed before any byte is stale, not a fault of the server, when the
/// request is then sent again (`retried`); a client gone says nothing about the server.
pub(super) fn observed(got: &Result<ResponseHead, RespError>, retried: bool) -> Option<Outcome> {
    Some(match got {
        Ok(head) => Outcome::Response(head.status),
        Err(RespError::Empty) if retried => return None,
        Err(RespError::Empty) => Outcome::ServerClosed,
        Err(RespError::Invalid | RespError::Cut) => Outcome::InvalidResponse,
        Err(RespError::Timeout) => Outcome::ReadTimeout,
        Err(RespError::Gone(_)) => return None,
    })
}

impl<R: Router> Session<'_, R> {
    /// Reads the final response head; interim 1xx responses are relayed to HTTP/1.1 clients.
    /// A `101` is final when it switches protocols as the request asked, invalid otherwise. With `pending` set, the request body waits for `100 Continue`
    /// (or for the client to send it anyway) and is streamed from here.
    pub(super) async fn read_response_head(
        &mut self,
        conn: &mut UpstreamConn,
        mut sbuf: Vec<u8>,
        be: &HttpBackend,
        request: &(RequestFraming, Version),
        pending: &mut Option<(usize, BodyKind)>,
    ) -> (Result<ResponseHead, RespError>, Vec<u8>) {
        let (framing, client_version) = *request;
        let limit = self.fe.head_limit.min(self.pool.buffer_size());
        let mut got_any = false;
        loop {
            match parse_response(&sbuf, limit) {
                Ok(Some(head)) if head.status == 101 => {
                    // Final when it switches as the request asked (`codec/upgrade.rs`).
                    return match switches(&sbuf, &head, framing.upgrade) {
                        Ok(_) => (Ok(head), sbuf),
                        Err(_) => (Err(RespError::Invalid), sbuf),
                    };
                }
                Ok(Some(head)) if (100..200).contains(&head.status) => {
                    if client_version == Version::Http11 {
                        let interim = sbuf[..head.len].to_vec();
                        if self.send_to_client(interim).await.is_err() {
                            return (Err(RespError::Gone(Termination::ClientAborted)), sbuf);
                        }
                    }
                    sbuf.drain(..head.len);
                    if let Some((start, kind)) = pending.take() {
                        if let Err(t) = self.stream_request_body(conn, start, kind, be).await {
                            return (Err(RespError::Gone(t)), sbuf);
                        }
                    }
                    continue;
                }
                Ok(Some(head)) => return (Ok(head), sbuf),
                Ok(None) => {}
                Err(_) => return (Err(RespError::Invalid), sbuf),
            }
            if let Some((start, kind)) = *pending {
                // Some servers ignore `Expect` and some clients stop waiting: whichever
                // speaks first decides.
                let client_first = {
                    let server = conn.stream.readable(false);
                    let client = self.client.readable(false);
                    let race = async {
                        monoio::select! {
                            _ = server => false,
                            _ = client => true,
                        }
                    };
                    match be.timeouts.server {
                        Some(t) => match crate::io::timed::within(t, race).await {
                            Ok(c) => c,
                            Err(_) => return (Err(RespError::Timeout), sbuf),
                        },
                        None => race.await,
                    }
                };
                if client_first {
                    *pending = None;
                    if let Err(t) = self.stream_request_body(conn, start, kind, be).await {
                        return (Err(RespError::Gone(t)), sbuf);
                    }
                    continue;
                }
            }
            let (outcome, b) = read_more(&mut conn.stream, sbuf, be.timeouts.server).await;
            sbuf = b;
            match outcome {
                ReadOutcome::Data(_) => got_any = true,
                ReadOutcome::Eof | ReadOutcome::Failed if !got_any => {
                    return (Err(RespError::Empty), sbuf)
                }
                ReadOutcome::Eof | ReadOutcome::Failed => return (Err(RespError::Cut), sbuf),
                ReadOutcome::Timeout => return (Err(RespError::Timeout), sbuf),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn relay_response(
        &mut self,
        mut conn: UpstreamConn,
        resp: ResponseHead,
        sbuf: Vec<u8>,
        (framing, client_version): (RequestFraming, Version),
        plan: ExchangePlan,
        fwd: Forwarded,
        (be, seen): (&HttpBackend, &Seen),
        upstream: &R::Upstream,
    ) -> Next {
        let Ok(kind) = response_framing(&sbuf, &resp, framing.is_head) else {
            self.pool.give(sbuf);
            return Next::Close(self.fail(502, Termination::BadResponse, Some(be)).await);
        };
        let mut edits = HeadEdits::default();
        // The client connection outlives a reply that replaces the response only when it
        // would have outlived the response itself.
        let keep = plan.client_keep_alive && fwd.body_read;
        self.vars.end_request();
        let replaced = {
            let router = self.router;
            let nbsrv = |n: &str| router.usable_servers(n);
            let txn = Txn {
                buf: &[],
                req: None,
                src: self.peer,
                dst: self.local,
                frontend: &self.fe.name,
                backend: Some(&be.name),
                server: None,
                res: Some((&sbuf, &resp)),
                nbsrv: &nbsrv,
                payload: None,
                edits: None,
                vars: Some(&self.vars),
                tls: self.client.tls(),
                h2: self.client.mux().is_some(),
            };
            // The backend's rules first, then the frontend's, as HAProxy orders them.
            let mut verdict = be.rules.http_response(&txn, &mut edits);
            if matches!(verdict, ResponseVerdict::Pass) && be.name != self.fe.name {
                verdict = self.fe.rules.http_response(&txn, &mut edits);
            }
            let pages = [&be.errors, &self.fe.errors];
            match verdict {
                ResponseVerdict::Pass => None,
                ResponseVerdict::Deny(spec) => Some((
                    spec_reply(spec, true, &txn, &pages),
                    spec.status,
                    true,
                    true,
                )),
                ResponseVerdict::Return(spec) => {
                    let close = !keep || closes(spec);
                    let page = spec_reply(spec, close, &txn, &pages);
                    Some((page, spec.status, close, false))
                }
                ResponseVerdict::Redirect(r) => {
                    Some((redirect_reply(r, &txn, !keep), r.code, !keep, false))
                }
            }
        };
        if let Some((page, status, close, denied)) = replaced {
            self.pool.give(sbuf);
            upstream.discard(conn);
            self.summary.last_status = Some(status);
            if let Err(t) = self.send_to_client(page).await {
                return Next::Close(t);
            }
            if !self.drain_unread_body().await {
                return Next::Close(Termination::ClientAborted);
            }
            return match (close, denied) {
                (false, _) => Next::KeepAlive,
                (true, true) => Next::Close(Termination::Denied),
                (true, false) => Next::Close(Termination::Normal),
            };
        }
        if let Some(cfg) = &be.cookie {
            let served = seen.served(upstream.server_cookie(conn.server), conn.persisted);
            edit_response(cfg, &served, &sbuf, &resp, &mut edits);
        }
        // `read_response_head` let a `101` through only when it switches protocols.
        let switch = resp.status == 101;
        let server_tokens = ConnectionTokens::parse(&sbuf, &resp.headers);
        // A close-delimited body ends with the close; a client that sent `Expect` and got a
        // final answer instead of `100 Continue` still owes its body: both end the connection.
        // A stopping process answers with `Connection: close`: the client's next request
        // goes to the process that replaces it.
        let client_keep = plan.client_keep_alive
            && kind != BodyKind::UntilClose
            && fwd.body_read
            && !self.router.stopping().is_some_and(|l| l.is_set());
        let mut out = self.pool.take();
        let rw = ResponseRewrite {
            client_close: !client_keep,
            client_version,
            drop_length: matches!(kind, BodyKind::Chunked | BodyKind::UntilClose),
            upgrade: switch,
        };
        let written = write_response_head(&mut out, &sbuf, &resp, &rw, &edits);
        if !written.fits(self.pool.buffer_size()) {
            // A failed response rewrite: the client gets 502, nothing of the response.
            self.pool.give(out);
            self.pool.give(sbuf);
            upstream.discard(conn);
            return Next::Close(self.fail(502, Termination::ServerError, Some(be)).await);
        }
        self.summary.last_status = Some(edits.status.map_or(resp.status, |(s, _)| s));
        self.summary.bytes_out += out.len() as u64;
        if switch {
            return self
                .switch_protocols(conn, out, sbuf, resp.len, be, upstream)
                .await;
        }
        // The head leaves with the body bytes read together with it: one write.
        let body = forward_body(
            &mut conn.stream,
            &mut self.client,
            out,
            sbuf,
            resp.len,
            kind,
            BodyTimeouts {
                src: be.timeouts.server,
                dst: self.fe.timeouts.client,
                no_delay: self.fe.no_delay || be.no_delay,
            },
        )
        .await;
        if let Some(out) = body.head {
            self.pool.give(out);
        }
        let leftover = !body.buf.is_empty();
        self.pool.give(body.buf);
        let outcome = match body.result {
            Ok(n) => {
                self.summary.bytes_out += n;
                None
            }
            Err(BodyError::SrcTimeout) => Some(Termination::ServerTimeout),
            Err(BodyError::SrcClosed | BodyError::BadChunk) => Some(Termination::ServerError),
            Err(BodyError::DstFailed | BodyError::DstTimeout) => Some(Termination::ClientAborted),
        };
        let server_keep = outcome.is_none()
            && self.unread_body.is_none()
            && plan.server_keep_alive
            && server_tokens.persistent(resp.version)
            && kind != BodyKind::UntilClose
            && fwd.body_sent
            && !leftover;
        if server_keep {
            self.own.release(be, upstream, conn);
        } else {
            upstream.discard(conn);
        }
        match outcome {
            Some(t) => Next::Close(t),
            None if !self.drain_unread_body().await => Next::Close(Termination::ClientAborted),
            None if client_keep => Next::KeepAlive,
            None => Next::Close(Termination::Normal),
        }
    }

    /// Reads and drops the rest of a request body the server stopped reading, as haproxy
    /// does once it relayed the server's early response: the client finishes its upload
    /// and keeps its connection, where a close under its upload would reset it (and could
    /// destroy the response before the client reads it). False when the client failed or
    /// stalled past `timeout client` meanwhile.
    async fn drain_unread_body(&mut self) -> bool {
        let Some(unread) = self.unread_body.take() else {
            return true;
        };
        let buf = self.take_inbuf();
        let (res, buf) = discard_body(&mut self.client, buf, unread, self.fe.timeouts.client).await;
        self.put_inbuf(buf);
        match res {
            Ok(n) => {
                self.summary.bytes_in += n;
                true
            }
            Err(_) => false,
        }
    }
}
