#!/usr/bin/python3
"""A real gRPC peer (grpcio) for the HTTP/2 tests, with raw-bytes methods (no generated code).

usage: grpc_peer.py serve PORT        -- serves /t.Echo/{Say,Fail,Count} on 127.0.0.1:PORT (h2c),
                                         prints "ready" once listening
       grpc_peer.py call HOST:PORT    -- calls them through HOST:PORT, prints one line each
"""
import sys
from concurrent import futures

import grpc


def ident(b):
    return b


def say(request, context):
    context.set_trailing_metadata((("x-trailer", "kept"),))
    return b"echo:" + request


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def count(request, context):
    for i in range(int(request)):
        yield b"%d" % i


def serve(port):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "Say": grpc.unary_unary_rpc_method_handler(say, ident, ident),
        "Fail": grpc.unary_unary_rpc_method_handler(fail, ident, ident),
        "Count": grpc.unary_stream_rpc_method_handler(count, ident, ident),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.Echo", handlers),))
    server.add_insecure_port("127.0.0.1:%s" % port)
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def call(target):
    with grpc.insecure_channel(target) as ch:
        say_ = ch.unary_unary("/t.Echo/Say", request_serializer=ident, response_deserializer=ident)
        reply, c = say_.with_call(b"x" * 100000, timeout=10)
        trailers = dict(c.trailing_metadata())
        print("say %d %s %s" % (len(reply), reply[:8].decode(), trailers.get("x-trailer")))
        try:
            ch.unary_unary("/t.Echo/Fail", request_serializer=ident, response_deserializer=ident)(
                b"", timeout=10
            )
            print("fail none")
        except grpc.RpcError as e:
            print("fail %s %s" % (e.code().name, e.details()))
        stream = ch.unary_stream("/t.Echo/Count", request_serializer=ident, response_deserializer=ident)
        got = [m.decode() for m in stream(b"5", timeout=10)]
        print("count %s" % ",".join(got))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        call(sys.argv[2])
