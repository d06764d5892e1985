"""The server's coalescing transport: one socket write per response, nothing lost or reordered."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send

from beacon.core.transport import FLUSH_BYTES, CoalescingHttpProtocol, CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """The socket side: records each write it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False
        self.eof = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


def _turn(loop: asyncio.AbstractEventLoop) -> None:
    """Let the loop run the callbacks scheduled so far."""
    loop.run_until_complete(asyncio.sleep(0))


def test_writes_of_one_turn_reach_the_socket_as_one_write() -> None:
    loop = asyncio.new_event_loop()
    try:
        socket_side = RecordingTransport()
        transport = CoalescingTransport(socket_side, loop)
        head = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n"
        transport.write(head)
        transport.write(bytearray(b"GIF"))
        transport.writelines([b"", memoryview(b"!")])
        assert socket_side.writes == []
        assert transport.get_write_buffer_size() == 7 + len(head) + 4
        _turn(loop)
        assert socket_side.writes == [head + b"GIF!"]
        assert transport.get_write_buffer_size() == 7
        transport.write(b"next")
        _turn(loop)
        assert socket_side.writes[1:] == [b"next"]
    finally:
        loop.close()


def test_a_large_body_is_handed_on_at_once_not_piled_up() -> None:
    loop = asyncio.new_event_loop()
    try:
        socket_side = RecordingTransport()
        transport = CoalescingTransport(socket_side, loop)
        transport.write(b"head")
        transport.write(b"x" * FLUSH_BYTES)
        assert socket_side.writes == [b"head" + b"x" * FLUSH_BYTES]
        _turn(loop)  # the scheduled flush finds nothing left
        assert len(socket_side.writes) == 1
    finally:
        loop.close()


def test_close_flushes_first_abort_drops_and_a_closed_socket_gets_nothing() -> None:
    loop = asyncio.new_event_loop()
    try:
        socket_side = RecordingTransport()
        transport = CoalescingTransport(socket_side, loop)
        transport.write(b"last words")
        transport.close()
        assert socket_side.writes == [b"last words"] and socket_side.closed
        transport.write(b"after close")
        _turn(loop)
        assert socket_side.writes == [b"last words"]

        aborted_side = RecordingTransport()
        aborted = CoalescingTransport(aborted_side, loop)
        aborted.write(b"dropped")
        aborted.abort()
        _turn(loop)
        assert aborted_side.writes == [] and aborted_side.aborted

        eof_side = RecordingTransport()
        eof = CoalescingTransport(eof_side, loop)
        eof.write(b"before eof")
        eof.write_eof()
        assert eof_side.writes == [b"before eof"] and eof_side.eof
        # everything else is the socket transport's own
        assert eof.get_extra_info("peername") == ("127.0.0.1", 5)
        assert eof.can_write_eof() is True
    finally:
        loop.close()


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(40):  # 40 chunks of 8 KiB, chunked encoding: past FLUSH_BYTES
            await send({"type": "http.response.body", "body": bytes([65 + i % 26]) * 8192,
                        "more_body": True})  # fmt: skip
        await send({"type": "http.response.body", "body": b""})
        return
    body = scope["path"].encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def _server() -> AsyncIterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(_app, host="127.0.0.1", port=port, http=CoalescingHttpProtocol,
                            lifespan="off", log_config=None, access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((ln.split(b":")[1] for ln in lines if ln.startswith(b"content-length")), None)
    if length is not None:
        return head, await reader.readexactly(int(length))
    body = b""
    while True:  # chunked
        size = int((await reader.readline()).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return head, body
        body += chunk[:-2]


def test_a_real_server_answers_pipelined_keep_alive_and_streamed_requests_intact() -> None:
    async def scenario() -> None:
        async with _server() as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            # three requests in one packet: three whole responses, in order
            writer.write(b"".join(f"GET /r{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                                  for i in range(3)))  # fmt: skip
            for i in range(3):
                head, body = await _read_response(reader)
                assert head.startswith(b"HTTP/1.1 200 OK\r\n")
                assert body == f"/r{i}".encode()
            # the same connection streams a 320 KiB chunked body, byte for byte
            writer.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = await _read_response(reader)
            assert b"transfer-encoding: chunked" in head
            assert body == b"".join(bytes([65 + i % 26]) * 8192 for i in range(40))
            # `Connection: close` gets its whole response, then the end of the stream
            writer.write(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head, body = await _read_response(reader)
            assert body == b"/last"
            assert await reader.read() == b""
            writer.close()

    asyncio.run(scenario())
