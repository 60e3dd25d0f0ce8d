"""A TCP proxy on 127.0.0.1 that adds round-trip latency, the way a hosted RPC provider answers
from across the network: every chunk of bytes is passed on `delay / 2` seconds after it arrived,
in each direction, in order (no bandwidth limit, no reordering; keep-alive connections stay open).

It runs in a process of its own, as the network does: passing megabytes of answers through Python
in the measured process would take that process's CPU and interpreter lock from the client it
measures.

    with LatencyProxy("127.0.0.1", 8545, delay=0.05) as proxy:
        ...point the client at proxy.url...

    python bench/latency_proxy.py --upstream 127.0.0.1:8545 --port 18545 --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

LAYER = Path(__file__).resolve().parents[1] / "layers" / "shared" / "python"
sys.path.insert(0, str(LAYER))

from blockhook.local.servers import HOST, free_port, port_open  # noqa: E402


class LatencyProxy:
    def __init__(self, upstream_host: str, upstream_port: int, delay: float) -> None:
        self.argv = [sys.executable, __file__, "--upstream", f"{upstream_host}:{upstream_port}", "--delay", str(delay)]
        self.port = free_port()
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> LatencyProxy:
        self._process = subprocess.Popen([*self.argv, "--port", str(self.port)])
        deadline = time.monotonic() + 30
        while not port_open(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"the latency proxy did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


async def serve(upstream: tuple[str, int], port: int, one_way: float) -> None:
    async def connection(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*upstream)
            await asyncio.gather(
                pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer), return_exceptions=True
            )
        except OSError:
            client_writer.close()  # the upstream is gone: the client sees it

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    break
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(chunk)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(deliver())
        try:
            while chunk := await reader.read(1 << 16):
                queue.put_nowait((loop.time() + one_way, chunk))
        finally:
            queue.put_nowait((loop.time() + one_way, b""))
            await sender

    server = await asyncio.start_server(connection, HOST, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="host:port")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, required=True, help="round trip added, seconds")
    options = parser.parse_args()
    host, _, upstream_port = options.upstream.rpartition(":")
    asyncio.run(serve((host, int(upstream_port)), options.port, options.delay / 2))


if __name__ == "__main__":
    main()
