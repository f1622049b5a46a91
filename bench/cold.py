"""Cold start: the first call on a freshly started server, each on a server of its own (so
that every one is that server's first call), against the same call on the warmed server."""

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_mcp.client import LeanClient
from tests.conftest import write_notebook
from tests.servers import Server

from .measure import Row, p50, timed
from .server import bench_server

COLD_FACTOR = 3.0  # the first call may take this many times the warm p50 of that call

# (row name, tool, arguments, name of the warm row it is compared with)
FIRST_CALLS: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("fresh server: first call, notebook_list", "notebook_list", {}, None),
    ("fresh server: first notebook_create", "notebook_create", {"path": "first.ipynb"},
     "notebook_create"),
    ("fresh server: first cell_get (opens the room)", "cell_get",
     {"path": "bench.ipynb", "index": 0}, "cell_get"),
]  # fmt: skip


async def first_call(server: Server, tool: str, arguments: dict[str, Any]) -> tuple[float, float]:
    """(ms of the initialize handshake, ms of the first tool call) on `server`."""
    write_notebook(server.root, [f"x{i} = {i}" for i in range(100)], "bench.ipynb")
    start = time.perf_counter()
    async with LeanClient(server.mcp_url, server.headers) as mcp:
        handshake = (time.perf_counter() - start) * 1000
        [call] = await timed(1, lambda i: mcp.call(tool, **arguments))
    return handshake, call


def cold_rows(warm: dict[str, Row]) -> list[Row]:
    handshakes, rows = [], []
    for name, tool, arguments, compared in FIRST_CALLS:
        with tempfile.TemporaryDirectory() as home, bench_server(Path(home)) as server:
            handshake, call = asyncio.run(first_call(server, tool, arguments))
        handshakes.append(handshake)
        if compared is None:
            rows.append(Row(name, [call]))
        else:
            target = COLD_FACTOR * p50(warm[compared])
            rows.append(Row(name, [call], target=target, basis=f"{COLD_FACTOR:g}x warm p50"))
    handshake_row = Row(f"fresh server: initialize handshake ({len(handshakes)} servers)",
                        handshakes)  # fmt: skip
    return [handshake_row, *rows]
