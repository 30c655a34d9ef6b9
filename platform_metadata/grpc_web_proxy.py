#!/usr/bin/env python3
"""gRPC-Web to gRPC proxy for ML Metadata: the offline stand-in for Kubeflow Pipelines'
`kfp-metadata-envoy` image (an Envoy whose only job is this translation for the KFP UI).

The UI's browser code calls `POST /ml_metadata.MetadataStoreService/<Method>` with gRPC-Web
framing; the UI's Node server forwards `/ml_metadata.*` here. Each call is forwarded, as bytes,
to the metadata gRPC server, and the answer is framed back: one data frame and one trailer frame,
or, on an error, a trailers-only response (grpc-status and grpc-message as HTTP headers).
Both encodings are accepted: application/grpc-web(+proto) and application/grpc-web-text(+proto)
(base64). Only unary calls of the services in GRPC_WEB_SERVICES are forwarded.

Configured by environment variables:
  GRPC_WEB_PORT        HTTP port on 0.0.0.0 (default 9090, upstream Envoy's)
  GRPC_WEB_UPSTREAM    host:port of the gRPC server (default metadata-grpc-service:8080)
  GRPC_WEB_SERVICES    comma-separated full service names (default ml_metadata.MetadataStoreService)
  GRPC_WEB_TIMEOUT_S   deadline of one forwarded call (default 30)
  GRPC_WEB_MAX_BYTES   largest request or response message (default 4194304, gRPC's default)
"""
from __future__ import annotations

import base64
import binascii
import logging
import os
import signal
import struct
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import grpc

log = logging.getLogger("grpc-web-proxy")
DATA_FRAME, TRAILER_FRAME = 0x00, 0x80
_FRAME_HEADER = struct.Struct(">BI")
_CORS_HEADERS = "content-type,x-grpc-web,x-user-agent,grpc-timeout"


class BadRequest(ValueError):
    """A request this proxy cannot forward; the message says why (sent back as the HTTP body)."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def frame(flags: int, payload: bytes) -> bytes:
    return _FRAME_HEADER.pack(flags, len(payload)) + payload


def unframe_request(body: bytes) -> bytes:
    """The single message of a unary gRPC-Web request body (already base64-decoded)."""
    if len(body) < _FRAME_HEADER.size:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"gRPC-Web body of {len(body)} bytes is shorter than a frame header (5 bytes)")
    flags, length = _FRAME_HEADER.unpack_from(body)
    if flags != DATA_FRAME:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"first gRPC-Web frame has flags 0x{flags:02x}; expected a data frame (0x00)"
                         + (" (compressed messages are not supported)" if flags & 0x01 else ""))
    if len(body) != _FRAME_HEADER.size + length:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"gRPC-Web frame announces {length} bytes but the body holds "
                         f"{len(body) - _FRAME_HEADER.size}; a unary call carries exactly one message")
    return body[_FRAME_HEADER.size:]


def trailers(code: grpc.StatusCode, message: str) -> dict[str, str]:
    # grpc-message is percent-encoded (gRPC over HTTP/2 spec), so any text survives a header.
    return {"grpc-status": str(code.value[0]), "grpc-message": quote(message, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")}


class Forwarder:
    """Forwards unary calls, as serialized bytes, to one gRPC server over one channel."""

    def __init__(self, target: str, services: tuple[str, ...], timeout_s: float, max_bytes: int) -> None:
        self.target, self.services, self.timeout_s, self.max_bytes = target, services, timeout_s, max_bytes
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", max_bytes), ("grpc.max_send_message_length", max_bytes)])
        self._calls: dict[str, grpc.UnaryUnaryMultiCallable] = {}
        self._lock = threading.Lock()

    def check_path(self, path: str) -> str:
        service, _, method = path.lstrip("/").partition("/")
        if service not in self.services or not method or "/" in method:
            raise BadRequest(HTTPStatus.NOT_FOUND, f"{path!r} is not a method of {', '.join(self.services)}; "
                             "expected POST /<package.Service>/<Method>")
        return f"/{service}/{method}"

    def call(self, method_path: str, request: bytes, metadata: tuple[tuple[str, str], ...]) -> bytes:
        with self._lock:
            call = self._calls.get(method_path)
            if call is None:
                call = self._calls[method_path] = self._channel.unary_unary(method_path)  # no (de)serializers: bytes
        return call(request, timeout=self.timeout_s, metadata=metadata)

    def close(self) -> None:
        self._channel.close()


def make_handler(forwarder: Forwarder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "mlops-grpc-web-proxy"

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: HTTPStatus, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", "*"))
            self.send_header("Access-Control-Expose-Headers", "grpc-status,grpc-message")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _refuse(self, error: BadRequest) -> None:
            log.warning("refused %s %s: %s", self.command, self.path, error)
            # Closed after the answer: a refusal may leave the request's body unread, which the next
            # request on a kept-alive connection would otherwise be parsed from.
            self._send(error.status, f"{error}\n".encode(), {"Content-Type": "text/plain; charset=utf-8",
                                                             "Connection": "close"})

        def do_OPTIONS(self) -> None:
            # CORS preflight, as Envoy's grpc-web filter answers it (the UI itself calls same-origin).
            self._send(HTTPStatus.NO_CONTENT, b"", {"Access-Control-Allow-Methods": "POST, OPTIONS",
                                                   "Access-Control-Allow-Headers": _CORS_HEADERS,
                                                   "Access-Control-Max-Age": "1728000"})

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(HTTPStatus.OK, b"ok\n", {"Content-Type": "text/plain"})
            else:
                self._refuse(BadRequest(HTTPStatus.METHOD_NOT_ALLOWED, "gRPC-Web calls are POST requests"))

        def do_POST(self) -> None:
            try:
                method_path = forwarder.check_path(self.path.split("?", 1)[0])
                content_type = self.headers.get("Content-Type", "")
                media = content_type.split(";", 1)[0].strip().lower()
                if media not in ("application/grpc-web", "application/grpc-web+proto",
                                 "application/grpc-web-text", "application/grpc-web-text+proto"):
                    raise BadRequest(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                                     f"Content-Type {content_type!r} is not gRPC-Web; expected application/grpc-web+proto "
                                     "or application/grpc-web-text")
                text = media.startswith("application/grpc-web-text")
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    raise BadRequest(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required") from None
                # base64 grows a message by 4/3; the frame header adds 5 bytes.
                limit = (forwarder.max_bytes + _FRAME_HEADER.size) * (4 if text else 3) // 3 + 4
                if length > limit:
                    raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                     f"request of {length} bytes is over the {forwarder.max_bytes}-byte message limit")
                body = self.rfile.read(length)
                if text:
                    try:
                        body = base64.b64decode(body, validate=True)
                    except binascii.Error as error:
                        raise BadRequest(HTTPStatus.BAD_REQUEST, f"grpc-web-text body is not base64: {error}") from None
                request = unframe_request(body)
            except BadRequest as error:
                self._refuse(error)
                return
            reply_type = "application/grpc-web-text+proto" if text else "application/grpc-web+proto"
            metadata = tuple((name.lower(), value) for name, value in self.headers.items()
                             if name.lower() in ("authorization", "kubeflow-userid"))
            try:
                response = forwarder.call(method_path, request, metadata)
            except grpc.RpcError as error:
                code, details = error.code(), error.details() or ""
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    details = f"{details} (metadata gRPC server {forwarder.target})"
                log.warning("%s: %s: %s", method_path, code.name, " ".join(details.split()))
                # Trailers-only response: the status travels in the HTTP headers, the body is empty.
                self._send(HTTPStatus.OK, b"", {"Content-Type": reply_type, **trailers(code, details)})
                return
            status = "".join(f"{name}:{value}\r\n" for name, value in trailers(grpc.StatusCode.OK, "").items())
            payload = frame(DATA_FRAME, response) + frame(TRAILER_FRAME, status.encode())
            self._send(HTTPStatus.OK, base64.b64encode(payload) if text else payload, {"Content-Type": reply_type})

    return Handler


def env_number(name: str, default: str, kind: type[int] | type[float]) -> int | float:
    raw = os.environ.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if value <= 0:
        sys.exit(f"grpc-web-proxy: {name} must be a positive number, got {raw!r}")
    return value


def serve(port: int, forwarder: Forwarder) -> ThreadingHTTPServer:
    """Starts the proxy on 0.0.0.0:port in a background thread (port 0 picks a free one)."""
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(forwarder))  # noqa: S104 (a pod's listener)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="grpc-web-proxy", daemon=True).start()
    return server


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    port = int(env_number("GRPC_WEB_PORT", "9090", int))
    upstream = os.environ.get("GRPC_WEB_UPSTREAM", "metadata-grpc-service:8080")
    if ":" not in upstream:
        sys.exit(f"grpc-web-proxy: GRPC_WEB_UPSTREAM must be host:port, got {upstream!r}")
    services = tuple(s.strip() for s in os.environ.get("GRPC_WEB_SERVICES", "ml_metadata.MetadataStoreService").split(",")
                     if s.strip())
    if not services:
        sys.exit("grpc-web-proxy: GRPC_WEB_SERVICES names no service")
    forwarder = Forwarder(upstream, services, float(env_number("GRPC_WEB_TIMEOUT_S", "30", float)),
                          int(env_number("GRPC_WEB_MAX_BYTES", "4194304", int)))
    server = serve(port, forwarder)
    log.info("serving gRPC-Web for %s on 0.0.0.0:%d, forwarding to %s", ", ".join(services), port, upstream)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, _frame: stop.set())
    stop.wait()
    log.info("stopping")
    server.shutdown()
    forwarder.close()


if __name__ == "__main__":
    main()
