"""A scriptable, fault-injecting HTTP proxy between s3sync and the S3 server.

It listens on 127.0.0.1 (a free port) and forwards every request to the real server
byte for byte: the raw path and query, every header including ``Host`` and the body
unchanged, so SigV4 signatures made for the proxy's address stay valid on servers that
check them. Only hop-by-hop headers (Connection, Transfer-Encoding, Expect, ...) are
re-framed. s3sync reaches it with ``--endpoint-url http://127.0.0.1:PORT``.

A test scripts it with ``Fault`` rules matched by HTTP method, a regex on the raw path
(with query) and counts (``skip`` matching requests, then hit ``times`` of them):

====================  ==============================================================
kind                  what the client sees
====================  ==============================================================
``error``             an S3 error reply (default 503 SlowDown; 500 InternalError ...)
``reset``             the connection reset (RST) after the request, nothing forwarded
``lost``              the request forwarded and done upstream, then a reset: the reply
                      is lost (a retried PUT meets its own write)
``reset_body``        headers and part of the body, then a reset
``truncate``          headers (true Content-Length) and part of the body, then FIN
``short``             part of the body with a Content-Length that claims it is whole
``corrupt``           the whole body with one byte flipped
``corrupt_request``   the server gets the request body with one byte flipped
``delay``             the request forwarded ``seconds`` late (combines with others)
``strip_conditional`` If-Match / If-None-Match removed: a server that ignores them
``reject_conditional`` 501 NotImplemented for any request carrying them
``strip_range``       Range removed: a server that ignores it and sends the whole body
``call``              ``action(hit)`` runs before forwarding (``when="before"``) or
                      after the server replied and before the client hears it
                      (``when="after"``) — e.g. a concurrent write, or kill -9
====================  ==============================================================

It runs its own event loop on a daemon thread, so plain (synchronous) tests can use
it around ``subprocess`` runs of the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade", "expect", "content-length",
})
CONDITIONAL = ("if-match", "if-none-match")
BODY_FAULTS = frozenset({"reset_body", "truncate", "short", "corrupt"})
TERMINAL = frozenset({"error", "reset", "lost", "reject_conditional", *BODY_FAULTS})
KINDS = TERMINAL | {"corrupt_request", "delay", "strip_conditional", "strip_range", "call"}
ERROR_CODES = {500: "InternalError", 502: "BadGateway", 503: "SlowDown", 504: "GatewayTimeout"}


@dataclass
class Hit:
    """One request the proxy saw, and what it did to it."""

    n: int  # 1-based, in arrival order
    method: str
    path: str  # raw path with query
    faults: list[str] = field(default_factory=list)
    status: int | None = None  # what the client got; None: no reply

    def __str__(self) -> str:
        done = ",".join(self.faults) or "-"
        return f"#{self.n} {self.method} {self.path} -> {self.status} [{done}]"


@dataclass
class Fault:
    kind: str
    method: str | None = None  # None: any
    path: str | None = None  # regex searched in the raw path+query; None: any
    times: int | None = 1  # matching requests to hit; None: all of them
    skip: int = 0  # matching requests to let through first
    status: int = 503  # for "error"
    code: str | None = None  # for "error"; default from the status
    at: float = 0.5  # for body faults: the share of the body sent before the fault
    seconds: float = 0.0  # for "delay"
    action: Callable[[Hit], None] | None = None  # for "call"
    when: str = "before"  # for "call": "before" forwarding or "after" the server replied
    matched: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.kind == "call" and (self.action is None or self.when not in ("before", "after")):
            raise ValueError("a call fault needs an action and when='before'|'after'")

    def take(self, method: str, path: str, headers: CIMultiDict[str]) -> bool:
        """Does this request match, with budget left? Counts it either way."""
        if self.method is not None and self.method != method:
            return False
        if self.path is not None and not re.search(self.path, path):
            return False
        if self.kind in ("strip_conditional", "reject_conditional") and not any(
            h in headers for h in CONDITIONAL
        ):
            return False
        if self.kind == "strip_range" and "range" not in headers:
            return False
        self.matched += 1
        if self.matched <= self.skip:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True

    def describe(self) -> str:
        where = f"{self.method or '*'} {self.path or '*'}"
        extra = {"error": f" {self.status}", "delay": f" {self.seconds}s"}.get(self.kind, "")
        count = "always" if self.times is None else f"x{self.times}"
        return f"{self.kind}{extra} on {where} {count}" + (f" after {self.skip}" if self.skip else "")


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = 0
        self.hits: list[Hit] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._startup_error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting (from the test's thread) ---------------------------------------

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def fired(self) -> int:
        with self._lock:
            return sum(f.fired for f in self._faults)

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        with self._lock:
            return sum(
                1 for h in self.hits
                if (method is None or h.method == method) and (path is None or re.search(path, h.path))
            )

    # -- lifetime -------------------------------------------------------------------

    @contextlib.contextmanager
    def running(self) -> Iterator[FaultProxy]:
        self._thread = threading.Thread(target=self._main, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the fault proxy did not start within 30 s")
        if self._startup_error is not None:
            raise RuntimeError("the fault proxy failed to start") from self._startup_error
        try:
            yield self
        finally:
            if self._loop is not None and self._stopped is not None:
                self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(30)

    def _main(self) -> None:
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        logging.getLogger("aiohttp.access").setLevel(logging.CRITICAL)
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            app = web.Application(client_max_size=1 << 31)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=512)
            await site.start()
            server = site._server
            assert isinstance(server, asyncio.base_events.Server)
            self.port = int(server.sockets[0].getsockname()[1])
            connector = aiohttp.TCPConnector(limit=0, force_close=False)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_read=300),
            )
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            raise
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            await self._session.close()
            await runner.cleanup()

    # -- one request ----------------------------------------------------------------

    def _match(self, hit: Hit, headers: CIMultiDict[str]) -> list[Fault]:
        with self._lock:
            self.hits.append(hit)
            chosen: list[Fault] = []
            terminal = False
            for fault in self._faults:
                if fault.kind in TERMINAL and terminal:
                    continue
                if fault.take(hit.method, hit.path, headers):
                    chosen.append(fault)
                    terminal = terminal or fault.kind in TERMINAL
            hit.faults = [f.kind for f in chosen]
            return chosen

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers: CIMultiDict[str] = CIMultiDict()
        for raw_name, raw_value in request.raw_headers:
            name = raw_name.decode("latin-1")
            if name.lower() not in HOP_BY_HOP:
                headers.add(name, raw_value.decode("latin-1"))
        hit = Hit(len(self.hits) + 1, request.method, request.raw_path)
        faults = self._match(hit, headers)
        kinds = {f.kind: f for f in faults}
        for fault in faults:
            if fault.kind == "call" and fault.when == "before":
                assert fault.action is not None
                await asyncio.to_thread(fault.action, hit)
        if "delay" in kinds:
            await asyncio.sleep(kinds["delay"].seconds)
        if "error" in kinds:
            return self._error(hit, kinds["error"])
        if "reset" in kinds:
            return self._reset(request, hit)
        if "reject_conditional" in kinds:
            return self._error(hit, Fault("error", status=501, code="NotImplemented"))
        if "strip_conditional" in kinds:
            for name in CONDITIONAL:
                headers.popall(name, None)
        if "strip_range" in kinds:
            headers.popall("range", None)
        if "corrupt_request" in kinds and body:
            body = _flip(body)
        url = URL(self.upstream + request.raw_path, encoded=True)
        data = body if body or request.method in ("PUT", "POST") else None
        async with self._session.request(
            request.method, url, headers=headers, data=data, allow_redirects=False,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
        ) as upstream:
            for fault in faults:
                if fault.kind == "call" and fault.when == "after":
                    assert fault.action is not None
                    await asyncio.to_thread(fault.action, hit)
            if "lost" in kinds:
                await upstream.read()
                return self._reset(request, hit)
            return await self._relay(request, upstream, hit, kinds)

    async def _relay(
        self, request: web.Request, upstream: aiohttp.ClientResponse, hit: Hit, kinds: dict[str, Fault]
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for raw_name, raw_value in upstream.raw_headers:
            name = raw_name.decode("latin-1")
            if name.lower() not in HOP_BY_HOP:
                response.headers.add(name, raw_value.decode("latin-1"))
        length_text = upstream.headers.get("Content-Length")
        length = int(length_text) if length_text is not None else None
        body_fault = next((kinds[k] for k in BODY_FAULTS if k in kinds), None)
        if body_fault is None or request.method == "HEAD":
            if length is not None:
                response.content_length = length
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(1 << 16):
                await response.write(chunk)
            await response.write_eof()
            hit.status = upstream.status
            return response
        data = await upstream.read()
        cut = int(len(data) * body_fault.at)
        if body_fault.kind == "corrupt":
            data, cut = _flip(data), len(data)
        if body_fault.kind == "short":
            data = data[:cut]
        response.content_length = len(data)  # the true length, except for "short"
        await response.prepare(request)
        if body_fault.kind in ("short", "corrupt"):
            await response.write(data)
            await response.write_eof()
            hit.status = upstream.status
            return response
        await response.write(data[:cut])
        await asyncio.sleep(0.02)  # let the part reach the client before the cut
        hit.status = upstream.status
        if body_fault.kind == "truncate":
            assert request.transport is not None
            request.transport.close()
        else:
            self._abort(request)
        return response

    def _error(self, hit: Hit, fault: Fault) -> web.Response:
        code = fault.code or ERROR_CODES.get(fault.status, "InternalError")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>injected by the fault proxy</Message>"
            f"<Resource>{hit.path}</Resource><RequestId>fault-{hit.n}</RequestId></Error>"
        )
        hit.status = fault.status
        return web.Response(status=fault.status, text=body, content_type="application/xml")

    def _reset(self, request: web.Request, hit: Hit) -> web.StreamResponse:
        hit.status = None
        self._abort(request)
        return web.Response(status=500)  # never reaches the client

    @staticmethod
    def _abort(request: web.Request) -> None:
        transport = request.transport
        if transport is None:
            return
        sock: socket.socket | None = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x5A]) + data[middle + 1 :]


def describe(faults: list[Fault]) -> list[str]:
    return [f.describe() + f" (fired {f.fired})" for f in faults]
