"""A WebSocket client over HTTP/2 (RFC 8441 extended CONNECT), for engine/tests/http2.rs.

Usage: ws_over_h2.py HOST PORT PATH MESSAGE...
With WS_H2_CA=FILE and WS_H2_SNI=NAME in the environment, speaks h2 over TLS (ALPN h2,
the server's certificate checked against FILE for NAME).

Opens an h2c connection with prior knowledge (or h2 over TLS), waits for the server's SETTINGS, and prints
one line per step, which the test compares between ringlb and haproxy:
  enable_connect_protocol N   (the server's SETTINGS_ENABLE_CONNECT_PROTOCOL)
  status S                    (the answer to the CONNECT)
  echo TEXT                   (each text message sent, as the server echoed it)
  end_stream                  (the server ended the stream after our close frame)
"""

import os
import socket
import ssl
import struct
import sys

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


def ws_frame(opcode, payload):
    """A masked client frame (RFC 6455 §5.2), FIN set."""
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def parse_frames(buf):
    """Whole server frames at the start of buf: [(opcode, payload)], rest."""
    out = []
    while len(buf) >= 2:
        n = buf[1] & 0x7F
        at = 2
        if n == 126:
            if len(buf) < 4:
                break
            n = struct.unpack("!H", buf[2:4])[0]
            at = 4
        if len(buf) < at + n:
            break
        out.append((buf[0] & 0x0F, buf[at : at + n]))
        buf = buf[at + n :]
    return out, buf


def main():
    host, port, path, messages = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    sock = socket.create_connection((host, port), timeout=5)
    if os.environ.get("WS_H2_CA"):
        ctx = ssl.create_default_context(cafile=os.environ["WS_H2_CA"])
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname=os.environ["WS_H2_SNI"])
        assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())

    def events():
        data = sock.recv(65536)
        if not data:
            print("closed")
            sys.exit(0)
        evs = conn.receive_data(data)
        sock.sendall(conn.data_to_send())
        return evs

    settings = None
    while settings is None:
        for ev in events():
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                settings = conn.remote_settings
    print("enable_connect_protocol", settings.enable_connect_protocol)
    sys.stdout.flush()
    if not settings.enable_connect_protocol:
        return
    sid = conn.get_next_available_stream_id()
    conn.send_headers(
        sid,
        [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "%s:%d" % (host, port)),
            ("sec-websocket-version", "13"),
        ],
    )
    sock.sendall(conn.data_to_send())
    status = None
    buf = b""
    ended = False
    pending = list(messages)
    waiting = 0
    closing = False
    while not ended:
        for ev in events():
            if ended:
                # What follows the server's end (haproxy resets the stream then) is not
                # compared.
                break
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers)[b":status"].decode()
                print("status", status)
                sys.stdout.flush()
                if not status.startswith("2"):
                    return
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                buf += ev.data
            elif isinstance(ev, h2.events.StreamEnded):
                ended = True
            elif isinstance(ev, h2.events.StreamReset):
                print("reset", int(ev.error_code))
                return
        frames, buf = parse_frames(buf)
        for opcode, payload in frames:
            if opcode == 1:
                print("echo", payload.decode())
                sys.stdout.flush()
                waiting -= 1
        if status is not None and status.startswith("2") and waiting == 0:
            if pending:
                m = pending.pop(0)
                conn.send_data(sid, ws_frame(1, m.encode()))
                waiting = 1
            elif not closing:
                # Close handshake: the server answers and closes its side of the tunnel.
                conn.send_data(sid, ws_frame(8, struct.pack("!H", 1000)))
                closing = True
        sock.sendall(conn.data_to_send())
    print("end_stream")
    sys.stdout.flush()
    try:
        conn.end_stream(sid)
        sock.sendall(conn.data_to_send())
    except h2.exceptions.StreamClosedError:
        pass


main()
