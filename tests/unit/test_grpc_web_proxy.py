"""The gRPC-Web proxy (platform_metadata/grpc_web_proxy.py) on a port, in front of a real gRPC
server in this process that answers ml_metadata.MetadataStoreService calls with raw bytes (no
ml_metadata package needed): what a unary call becomes in both encodings, which request headers
reach the server, how gRPC errors and an unreachable server come back, and what the proxy refuses.
The image with the real metadata server behind it: offline/images/metadata/check.sh (make image-checks)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import pytest

from platform_metadata import grpc_web_proxy
from platform_metadata.grpc_web_proxy import DATA_FRAME, TRAILER_FRAME, BadRequest, Forwarder, frame, unframe_request

pytestmark = pytest.mark.unit
SERVICE = "ml_metadata.MetadataStoreService"
METHOD = f"/{SERVICE}/GetArtifactsByID"
MAX_BYTES = 64
TIMEOUT_S = 2.0
OK_TRAILER = b"grpc-status:0\r\ngrpc-message:\r\n"


@dataclass
class Upstream:
    """The stand-in metadata server: its port, and (method, request bytes, metadata) of each call."""

    port: int
    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def _handler(upstream: Upstream, method: str):
    def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
        upstream.calls.append((method, request, dict(context.invocation_metadata())))
        if method == "GetArtifactType":
            context.abort(grpc.StatusCode.NOT_FOUND, "no such artifact")
        if method == "GetContextType":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "100% wrong: façade\nsecond line")
        if method == "GetExecutions":
            return b"x" * (MAX_BYTES + 1)  # over the forwarder's receive limit
        if method == "GetLineageGraph":
            upstream.release.wait(5)  # longer than a short deadline; the test releases it
        if method == "PutArtifacts":
            return request  # as long as the request: the largest message both ways
        return b"reply:" + request

    return grpc.unary_unary_rpc_method_handler(handle)  # no (de)serializers: bytes in, bytes out


# The stand-in server and the proxy are the module's (each test starts with no calls recorded):
# shutting a proxy down waits for its serve_forever loop's 0.5 s poll.
@pytest.fixture(scope="module")
def _upstream() -> Iterator[Upstream]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    port = server.add_insecure_port("127.0.0.1:0")
    stand_in = Upstream(port)
    methods = ("GetArtifactsByID", "GetArtifactType", "GetContextType", "GetExecutions", "GetLineageGraph", "PutArtifacts")
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        SERVICE, {method: _handler(stand_in, method) for method in methods}),))
    server.start()
    try:
        yield stand_in
    finally:
        stand_in.release.set()
        server.stop(0)


@contextlib.contextmanager
def _proxy(target: str, timeout_s: float = TIMEOUT_S) -> Iterator[int]:
    """A proxy of its own in front of `target`; its port. Shut down and closed on leaving."""
    forwarder = Forwarder(target, (SERVICE,), timeout_s, MAX_BYTES)
    server = grpc_web_proxy.serve(0, forwarder)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        forwarder.close()


@pytest.fixture
def upstream(_upstream: Upstream) -> Upstream:
    _upstream.calls.clear()
    _upstream.release.clear()
    return _upstream


@pytest.fixture(scope="module")
def proxy(_upstream: Upstream) -> Iterator[int]:
    """The proxy's port, forwarding to the stand-in server."""
    with _proxy(f"127.0.0.1:{_upstream.port}") as port:
        yield port


def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def _post(port: int, body: bytes, content_type: str = "application/grpc-web+proto", path: str = METHOD,
          headers: dict[str, str] | None = None) -> Answer:
    return _request(port, "POST", path, body, {"Content-Type": content_type, "X-Grpc-Web": "1", **(headers or {})})


def _frames(payload: bytes) -> list[tuple[int, bytes]]:
    found = []
    while payload:
        flags, length = int(payload[0]), int.from_bytes(payload[1:5], "big")
        found.append((flags, payload[5:5 + length]))
        payload = payload[5 + length:]
    return found


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_frame_and_unframe_request_round_trip():
    assert frame(DATA_FRAME, b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert frame(TRAILER_FRAME, b"grpc-status:0\r\n") == b"\x80\x00\x00\x00\x0fgrpc-status:0\r\n"
    for message in (b"", b"\x08\x01", bytes(range(256)) * 3):
        assert unframe_request(frame(DATA_FRAME, message)) == message
    with pytest.raises(BadRequest, match="shorter than a frame header") as short:
        unframe_request(b"\x00\x00\x00")
    assert short.value.status == 400


def test_a_binary_call_is_answered_with_the_servers_bytes_and_an_ok_trailer(upstream: Upstream, proxy: int):
    answer = _post(proxy, frame(DATA_FRAME, b"\x0a\x01\x07"))
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/grpc-web+proto"
    assert answer.headers["Access-Control-Expose-Headers"] == "grpc-status,grpc-message"
    assert answer.headers["grpc-status"] is None, "a full response has its status in the trailer frame, not the headers"
    assert _frames(answer.body) == [(DATA_FRAME, b"reply:\x0a\x01\x07"), (TRAILER_FRAME, OK_TRAILER)]
    assert [(method, request) for method, request, _ in upstream.calls] == [("GetArtifactsByID", b"\x0a\x01\x07")]


def test_an_empty_message_is_forwarded_and_answered(upstream: Upstream, proxy: int):
    answer = _post(proxy, frame(DATA_FRAME, b""), content_type="application/grpc-web")
    assert (answer.status, answer.headers["Content-Type"]) == (200, "application/grpc-web+proto")
    assert _frames(answer.body) == [(DATA_FRAME, b"reply:"), (TRAILER_FRAME, OK_TRAILER)]
    assert [request for _, request, _ in upstream.calls] == [b""]


def test_a_base64_text_call_is_answered_in_base64(upstream: Upstream, proxy: int):
    answer = _post(proxy, base64.b64encode(frame(DATA_FRAME, b"\x12\x04name")), content_type="application/grpc-web-text")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/grpc-web-text+proto"
    assert _frames(base64.b64decode(answer.body, validate=True)) == [(DATA_FRAME, b"reply:\x12\x04name"), (TRAILER_FRAME, OK_TRAILER)]
    assert [request for _, request, _ in upstream.calls] == [b"\x12\x04name"]


def test_only_the_identity_headers_reach_the_server(upstream: Upstream, proxy: int):
    answer = _post(proxy, frame(DATA_FRAME, b"q"), headers={
        "Authorization": "Bearer token-of-alice", "kubeflow-userid": "alice@example.edu",
        "Cookie": "session=secret", "X-Other": "not forwarded", "Origin": "http://ui.example"})
    assert answer.status == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "http://ui.example"
    [(_, _, metadata)] = upstream.calls
    assert metadata["authorization"] == "Bearer token-of-alice"
    assert metadata["kubeflow-userid"] == "alice@example.edu"
    # What else the server sees is gRPC's own (user-agent), none of the HTTP request's headers.
    assert set(metadata) - {"user-agent"} == {"authorization", "kubeflow-userid"}, metadata


def test_a_server_error_comes_back_as_a_trailers_only_response(upstream: Upstream, proxy: int):
    answer = _post(proxy, frame(DATA_FRAME, b"\x0a\x03foo"), path=f"/{SERVICE}/GetArtifactType")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/grpc-web+proto"
    assert (answer.headers["grpc-status"], answer.headers["grpc-message"]) == ("5", "no such artifact")
    assert answer.body == b""
    assert [method for method, _, _ in upstream.calls] == ["GetArtifactType"]


def test_the_error_message_is_percent_encoded(upstream: Upstream, proxy: int):
    answer = _post(proxy, base64.b64encode(frame(DATA_FRAME, b"")), content_type="application/grpc-web-text",
                   path=f"/{SERVICE}/GetContextType")
    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers["Content-Type"] == "application/grpc-web-text+proto"
    assert answer.headers["grpc-status"] == "3"
    assert answer.headers["grpc-message"] == "100%25 wrong: fa%C3%A7ade%0Asecond line"


def test_a_response_over_the_message_limit_is_resource_exhausted(upstream: Upstream, proxy: int):
    answer = _post(proxy, frame(DATA_FRAME, b""), path=f"/{SERVICE}/GetExecutions")
    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers["grpc-status"] == "8"


def test_an_unreachable_server_is_unavailable_with_its_address_named():
    port = _closed_port()
    with _proxy(f"127.0.0.1:{port}", timeout_s=1.0) as proxy_port:
        answer = _post(proxy_port, frame(DATA_FRAME, b"q"))
    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers["grpc-status"] == "14"
    assert answer.headers["grpc-message"].endswith(f" (metadata gRPC server 127.0.0.1:{port})"), answer.headers["grpc-message"]


def test_a_call_past_its_deadline_is_deadline_exceeded_with_the_server_named(upstream: Upstream):
    with _proxy(f"127.0.0.1:{upstream.port}", timeout_s=0.2) as proxy_port:
        try:
            answer = _post(proxy_port, frame(DATA_FRAME, b""), path=f"/{SERVICE}/GetLineageGraph")
        finally:
            upstream.release.set()
    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers["grpc-status"] == "4"
    assert answer.headers["grpc-message"].endswith(f" (metadata gRPC server 127.0.0.1:{upstream.port})"), answer.headers["grpc-message"]


@pytest.mark.parametrize(("path", "body", "content_type", "status", "says"), [
    ("/other.Service/Get", frame(DATA_FRAME, b""), "application/grpc-web+proto", 404,
     b"'/other.Service/Get' is not a method of ml_metadata.MetadataStoreService"),
    (f"/{SERVICE}", frame(DATA_FRAME, b""), "application/grpc-web+proto", 404, b"is not a method of"),
    (f"/{SERVICE}/Get/More", frame(DATA_FRAME, b""), "application/grpc-web+proto", 404, b"is not a method of"),
    (METHOD, frame(DATA_FRAME, b""), "application/json", 415, b"Content-Type 'application/json' is not gRPC-Web"),
    (METHOD, frame(DATA_FRAME, b"abc")[:-1], "application/grpc-web+proto", 400,
     b"gRPC-Web frame announces 3 bytes but the body holds 2"),
    (METHOD, frame(DATA_FRAME, b"a") + frame(DATA_FRAME, b"b"), "application/grpc-web+proto", 400,
     b"gRPC-Web frame announces 1 bytes but the body holds 7"),
    (METHOD, frame(0x01, b"abc"), "application/grpc-web+proto", 400,
     b"first gRPC-Web frame has flags 0x01; expected a data frame (0x00) (compressed messages are not supported)"),
    (METHOD, frame(TRAILER_FRAME, b""), "application/grpc-web+proto", 400, b"first gRPC-Web frame has flags 0x80"),
    (METHOD, b"\x00\x00", "application/grpc-web+proto", 400, b"shorter than a frame header"),
    # A lenient decoder would drop the "*" and forward the frame.
    (METHOD, b"*" + base64.b64encode(frame(DATA_FRAME, b"abc")), "application/grpc-web-text", 400,
     b"grpc-web-text body is not base64: Only base64 data is allowed"),
    (METHOD, frame(DATA_FRAME, b"x" * (MAX_BYTES + 10)), "application/grpc-web+proto", 413,
     f"request of {MAX_BYTES + 15} bytes is over the {MAX_BYTES}-byte message limit".encode()),
    (METHOD, base64.b64encode(frame(DATA_FRAME, b"x" * (MAX_BYTES + 10))), "application/grpc-web-text", 413,
     b"bytes is over the 64-byte message limit"),
], ids=["other-service", "no-method", "nested-method", "content-type", "short-frame", "two-frames", "compressed",
        "trailer-first", "no-header", "not-base64", "too-large", "too-large-text"])
def test_a_request_that_cannot_be_forwarded_is_refused(upstream: Upstream, proxy: int, path: str, body: bytes,
                                                       content_type: str, status: int, says: bytes):
    answer = _post(proxy, body, content_type=content_type, path=path)
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert says in answer.body, answer.body
    assert upstream.calls == [], "a refused request must not reach the server"


def test_calls_share_a_kept_alive_connection(upstream: Upstream, proxy: int):
    """The UI's Node server keeps its connections to the proxy open: calls in a row on one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", proxy, timeout=10)
    try:
        for message in (b"one", b"two"):
            connection.request("POST", METHOD, body=frame(DATA_FRAME, message), headers={"Content-Type": "application/grpc-web+proto"})
            response = connection.getresponse()
            assert (response.status, _frames(response.read())) == (200, [(DATA_FRAME, b"reply:" + message), (TRAILER_FRAME, OK_TRAILER)])
    finally:
        connection.close()
    assert [request for _, request, _ in upstream.calls] == [b"one", b"two"]


def test_a_call_after_a_refusal_on_the_same_connection_is_answered(upstream: Upstream, proxy: int):
    """A refusal sent before the body is read closes the connection: the body left unread must not be
    taken for the next request (it was, and the next call on a kept-alive connection got 501)."""
    connection = http.client.HTTPConnection("127.0.0.1", proxy, timeout=10)
    try:
        connection.request("POST", "/other.Service/Get", body=frame(DATA_FRAME, b"abc"), headers={"Content-Type": "application/grpc-web+proto"})
        refused = connection.getresponse()
        assert (refused.status, refused.read()[:19]) == (404, b"'/other.Service/Get")
        connection.request("POST", METHOD, body=frame(DATA_FRAME, b"next"), headers={"Content-Type": "application/grpc-web+proto"})
        response = connection.getresponse()
        assert (response.status, _frames(response.read())) == (200, [(DATA_FRAME, b"reply:next"), (TRAILER_FRAME, OK_TRAILER)])
    finally:
        connection.close()


def test_the_message_limit_is_exact_in_both_encodings(upstream: Upstream, proxy: int):
    """A message of MAX_BYTES is forwarded in both encodings. One byte more is within the
    Content-Length check's slack (it allows for base64 padding), so the gRPC channel's own send
    limit refuses it: RESOURCE_EXHAUSTED, and nothing reaches the server."""
    put = f"/{SERVICE}/PutArtifacts"
    largest = frame(DATA_FRAME, b"y" * MAX_BYTES)
    assert _frames(_post(proxy, largest, path=put).body) == [(DATA_FRAME, b"y" * MAX_BYTES), (TRAILER_FRAME, OK_TRAILER)]
    text = _post(proxy, base64.b64encode(largest), content_type="application/grpc-web-text", path=put)
    assert _frames(base64.b64decode(text.body)) == [(DATA_FRAME, b"y" * MAX_BYTES), (TRAILER_FRAME, OK_TRAILER)]
    assert len(upstream.calls) == 2
    for body, content_type in ((frame(DATA_FRAME, b"y" * (MAX_BYTES + 1)), "application/grpc-web+proto"),
                               (base64.b64encode(frame(DATA_FRAME, b"y" * (MAX_BYTES + 1))), "application/grpc-web-text")):
        over = _post(proxy, body, content_type=content_type, path=put)
        assert (over.status, over.body, over.headers["grpc-status"]) == (200, b"", "8"), over.headers
    assert len(upstream.calls) == 2


def test_a_get_other_than_healthz_is_refused(upstream: Upstream, proxy: int):
    answer = _request(proxy, "GET", METHOD)
    assert (answer.status, answer.body) == (405, b"gRPC-Web calls are POST requests\n")
    assert upstream.calls == []


def test_healthz_answers_ok(proxy: int):
    answer = _request(proxy, "GET", "/healthz")
    assert (answer.status, answer.headers["Content-Type"], answer.body) == (200, "text/plain", b"ok\n")


def test_a_cors_preflight_is_answered_without_a_body(upstream: Upstream, proxy: int):
    answer = _request(proxy, "OPTIONS", METHOD, headers={
        "Origin": "http://ui.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-grpc-web"})
    assert (answer.status, answer.body) == (204, b"")
    assert answer.headers["Access-Control-Allow-Origin"] == "http://ui.example"
    assert answer.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert answer.headers["Access-Control-Allow-Headers"] == "content-type,x-grpc-web,x-user-agent,grpc-timeout"
    assert answer.headers["Access-Control-Max-Age"] == "1728000"
    assert upstream.calls == []
