#!/usr/bin/env python3
"""A recording HTTP/1.1 server for the SDK end-to-end tests (standard library only).

It listens on 127.0.0.1 (port 0 unless told otherwise), keeps the exact bytes of every request it
receives -- request line, headers as sent, and the body as sent, including any
`Transfer-Encoding: chunked` framing -- and answers each one with

    200 application/json {"EventId": 7, "RequestId": "<fresh id>"}       (answer "fnf", the default)

or, as an AWS JSON service would (answer "aws"),

    200 <the request's application/x-amz-json-1.x content type> {}  with x-amzn-RequestId: <fresh id>

or (answer "auto") as the service each request is for: AWS's when it has an X-Amz-Target.

Two ways to use it:

* in-process (Python tests)::

      with Recorder() as rec:              # Recorder(answer="aws") for the AWS dialects
          ... point an SDK at rec.endpoint ...
          capture = rec.captures[-1]        # Capture(raw=bytes, request_id=str)

* as a child process (Node tests)::

      python3 recorder.py --out-dir DIR [--answer aws]

  prints one JSON line `{"port": N}` on stdout once it listens, then for every request writes
  `DIR/NNNN.http` (the raw bytes) and `DIR/NNNN.json` (`{"request_id": ...}`) *before* it sends
  the response, so a client that got its answer can read its capture at once. It stops when its
  standard input closes or on SIGTERM/SIGINT.

Over TLS (`Recorder(tls=(cert_pem_path, key_pem_path))`, `--tls-cert/--tls-key`): Python's ssl
module, HTTP/1.1 only (ALPN `http/1.1`: it keeps raw HTTP/1.1 bytes). `delay` (seconds, `--delay`)
holds each answer back after the request is recorded, for requests that must stay in flight.
`connections` counts accepted TCP connections, handshakes that fail included.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import time
import threading
import uuid
from dataclasses import dataclass

EVENT_ID = 7
ANSWERS = ("fnf", "aws", "auto")
AWS_DEFAULT_CONTENT_TYPE = "application/x-amz-json-1.0"
MAX_REQUEST_BYTES = 16 * 1024 * 1024
SOCKET_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Capture:
    """One request exactly as received, and the RequestId the recorder answered with."""

    raw: bytes
    request_id: str


class _BadRequest(Exception):
    pass


class _Reader:
    """Reads from a socket, keeping every byte consumed for the current request."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = b""
        self.raw = bytearray()

    def _fill(self) -> bool:
        chunk = self._sock.recv(65536)
        if not chunk:
            return False
        self._buf += chunk
        if len(self._buf) + len(self.raw) > MAX_REQUEST_BYTES:
            raise _BadRequest("request too large")
        return True

    def has_pending(self) -> bool:
        return bool(self._buf)

    def read_until(self, marker: bytes) -> bytes | None:
        """Consume up to and including `marker`; None on a clean EOF before any byte."""
        while True:
            idx = self._buf.find(marker)
            if idx >= 0:
                end = idx + len(marker)
                out, self._buf = self._buf[:end], self._buf[end:]
                self.raw += out
                return out
            if not self._fill():
                if self._buf:
                    raise _BadRequest("connection closed mid-request")
                return None

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                raise _BadRequest("connection closed mid-body")
        out, self._buf = self._buf[:n], self._buf[n:]
        self.raw += out
        return out

    def take_raw(self) -> bytes:
        out = bytes(self.raw)
        self.raw = bytearray()
        return out


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = head.split(b"\r\n")
    request_line = lines[0].decode("latin-1")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise _BadRequest("malformed header line")
        headers.append((name.decode("latin-1").strip().lower(), value.decode("latin-1").strip()))
    return request_line, headers


def _read_body(reader: _Reader, headers: list[tuple[str, str]]) -> None:
    te = [v.lower() for k, v in headers if k == "transfer-encoding"]
    if te and "chunked" in ",".join(te):
        while True:
            size_line = reader.read_until(b"\r\n")
            if size_line is None:
                raise _BadRequest("connection closed in chunk size")
            size_text = size_line[:-2].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise _BadRequest("bad chunk size") from exc
            if size == 0:
                # trailers, then the empty line
                while True:
                    line = reader.read_until(b"\r\n")
                    if line is None:
                        raise _BadRequest("connection closed in trailers")
                    if line == b"\r\n":
                        return
            reader.read_exact(size + 2)
    lengths = [v for k, v in headers if k == "content-length"]
    if lengths:
        reader.read_exact(int(lengths[0]))


def _answer(answer: str, headers: list[tuple[str, str]], request_id: str) -> tuple[str, str, bytes]:
    """(Content-Type, name of the request-id header, body) of the 200 answer."""
    if answer == "auto":  # as the service the request is for: AWS when it names a target
        answer = "aws" if any(k == "x-amz-target" for k, _ in headers) else "fnf"
    if answer == "aws":
        sent = next((v for k, v in headers if k == "content-type"), "")
        content_type = sent if sent.startswith("application/x-amz-json-") else AWS_DEFAULT_CONTENT_TYPE
        return content_type, "x-amzn-RequestId", b"{}"
    body = json.dumps({"EventId": EVENT_ID, "RequestId": request_id}).encode()
    return "application/json", "x-acs-request-id", body


class _Handler(socketserver.BaseRequestHandler):
    server: "_Server"

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(SOCKET_TIMEOUT_SECONDS)
        self.server.count_connection()
        if self.server.tls is not None:
            try:
                sock = self.server.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                return
        reader = _Reader(sock)
        try:
            while True:
                head = reader.read_until(b"\r\n\r\n")
                if head is None:
                    return
                _request_line, headers = _parse_head(head[:-4])
                if any(k == "expect" and v.lower() == "100-continue" for k, v in headers):
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                _read_body(reader, headers)
                raw = reader.take_raw()
                request_id = str(uuid.uuid4()).upper()
                self.server.record(Capture(raw=raw, request_id=request_id))
                if self.server.delay:
                    time.sleep(self.server.delay)
                content_type, id_header, body = _answer(self.server.answer, headers, request_id)
                close = any(k == "connection" and v.lower() == "close" for k, v in headers)
                response = (
                    b"HTTP/1.1 200 OK\r\n"
                    + f"Content-Type: {content_type}\r\n".encode()
                    + f"Content-Length: {len(body)}\r\n".encode()
                    + f"{id_header}: {request_id}\r\n".encode()
                    + (b"Connection: close\r\n" if close else b"Connection: keep-alive\r\n")
                    + b"\r\n"
                    + body
                )
                sock.sendall(response)
                if close:
                    return
        except (_BadRequest, ValueError):
            try:
                sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
        except OSError:
            return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, on_capture, answer: str = "fnf", tls=None, delay: float = 0.0) -> None:
        if answer not in ANSWERS:
            raise ValueError(f"answer must be one of {ANSWERS}, not {answer!r}")
        super().__init__(("127.0.0.1", port), _Handler)
        self._on_capture = on_capture
        self.answer = answer
        self.delay = delay
        self.connections = 0
        self._count_lock = threading.Lock()
        self.tls: ssl.SSLContext | None = None
        if tls is not None:
            cert, key = tls
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            context.set_alpn_protocols(["http/1.1"])
            self.tls = context

    def count_connection(self) -> None:
        with self._count_lock:
            self.connections += 1

    def record(self, capture: Capture) -> None:
        self._on_capture(capture)


class Recorder:
    """In-process recorder; a context manager that serves on a background thread."""

    def __init__(self, port: int = 0, on_capture=None, answer: str = "fnf", tls=None, delay: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._captures: list[Capture] = []
        self._extra = on_capture
        self._server = _Server(port, self._record, answer, tls, delay)
        self._thread: threading.Thread | None = None

    def _record(self, capture: Capture) -> None:
        if self._extra is not None:
            self._extra(capture)
        with self._lock:
            self._captures.append(capture)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def delay(self) -> float:
        """Seconds each answer is held back; may be changed between requests."""
        return self._server.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self._server.delay = seconds

    @property
    def endpoint(self) -> str:
        """`127.0.0.1:<port>` (no scheme)."""
        return f"127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (failed TLS handshakes included)."""
        return self._server.connections

    @property
    def captures(self) -> list[Capture]:
        with self._lock:
            return list(self._captures)

    def clear(self) -> None:
        with self._lock:
            self._captures.clear()

    def start(self) -> "Recorder":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "Recorder":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", required=True, help="directory for NNNN.http / NNNN.json")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--answer", choices=ANSWERS, default="fnf", help="how to answer (default fnf)")
    parser.add_argument("--tls-cert", help="serve TLS with this PEM certificate chain")
    parser.add_argument("--tls-key", help="...and this PEM private key")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to hold each answer back")
    args = parser.parse_args()
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    os.makedirs(args.out_dir, exist_ok=True)
    counter = [0]
    counter_lock = threading.Lock()

    def write(capture: Capture) -> None:
        with counter_lock:
            counter[0] += 1
            n = counter[0]
        base = os.path.join(args.out_dir, f"{n:04d}")
        with open(base + ".http.tmp", "wb") as f:
            f.write(capture.raw)
        with open(base + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump({"request_id": capture.request_id}, f)
        os.replace(base + ".json.tmp", base + ".json")
        os.replace(base + ".http.tmp", base + ".http")

    rec = Recorder(args.port, on_capture=write, answer=args.answer, tls=tls, delay=args.delay).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())

    def watch_stdin() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    sys.stdout.write(json.dumps({"port": rec.port}) + "\n")
    sys.stdout.flush()
    done.wait()
    rec.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
