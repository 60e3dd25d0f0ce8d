"""A TCP proxy on 127.0.0.1 that adds round-trip latency, the way a hosted RPC provider answers
from across the network: every chunk of bytes is passed on `delay / 2` seconds after it arrived,
in each direction, in order (no bandwidth limit, no reordering; keep-alive connections stay open).

    with LatencyProxy("127.0.0.1", 8545, delay=0.05) as proxy:
        ...point the client at proxy.url...
"""

from __future__ import annotations

import asyncio
import threading

from blockhook.local.servers import HOST, free_port


class LatencyProxy:
    def __init__(self, upstream_host: str, upstream_port: int, delay: float) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.one_way = delay / 2
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="latency-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._connection, HOST, self.port), self._loop
        ).result()
        return self

    def __exit__(self, *exc_info) -> None:
        async def close() -> None:
            self._server.close()
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer),
                return_exceptions=True,
            )
        except (asyncio.CancelledError, OSError):
            client_writer.close()  # the proxy is closing, or the upstream is gone: the client sees it

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
                queue.put_nowait((loop.time() + self.one_way, chunk))
        finally:
            queue.put_nowait((loop.time() + self.one_way, b""))
            await sender
