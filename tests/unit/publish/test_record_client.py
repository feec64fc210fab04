"""The status page's reader of the log's API, against a real local HTTP server that answers,
then hangs: only the first read waits; a hung log turns the block "unreachable" without
slowing the requests in between."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from pipeline.publish.config import RecordSourceConfig
from pipeline.publish.record_client import RecordSource

HEAD = {"head": {"tree_size": 9, "timestamp_ms": 1_700_000_000_000}, "cosignatures": []}
WITNESSES = {"witnesses": [{"witness_id": "ab" * 32, "cosigned_size": 9, "refusals": 0}]}


def test_expired_block_is_served_while_a_hung_log_is_read_in_the_background() -> None:
    async def main() -> None:
        hang = asyncio.Event()

        async def answer(request: web.Request) -> web.Response:
            if hang.is_set():
                await asyncio.sleep(1.0)
            body: dict[str, Any] = HEAD if request.path.endswith("/head") else WITNESSES
            return web.json_response(body)

        app = web.Application()
        app.router.add_get("/ledger/v1/head", answer)
        app.router.add_get("/ledger/v1/witnesses", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            config = RecordSourceConfig(f"http://127.0.0.1:{port}", timeout_s=0.3)
            source = RecordSource(config, ttl_s=0.1)
            first = await source.current()
            assert (first["state"], first["tree_size"], first["cosigned_latest"]) == ("ok", 9, 1)
            hang.set()
            await asyncio.sleep(0.15)
            started = time.perf_counter()
            stale = await source.current()  # expired: served at once, refreshed behind
            assert time.perf_counter() - started < 0.05
            assert stale["state"] == "ok"
            deadline = time.perf_counter() + 3
            while (await source.current())["state"] == "ok":
                assert time.perf_counter() < deadline, "the hung read never timed out"
                await asyncio.sleep(0.05)
            block = await source.current()
            assert block["state"] == "unreachable"
            assert block["last_known"]["tree_size"] == 9
        finally:
            await runner.cleanup()

    asyncio.run(main())
