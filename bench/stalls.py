"""Event-loop stalls: the longest the server's event loop was blocked during one workload,
as bench/loop_monitor.py measures it. While the loop is blocked, every collaborator's
typing and every other call waits, not only the caller."""

import asyncio
import time
from collections.abc import Awaitable

import httpx

from jupyter_mcp.client import LeanClient
from tests.conftest import write_notebook
from tests.servers import Server

from .measure import Row
from .server import MAX_SOURCE_CHARS, loop_report

STALL_TARGET_MS = 10.0
POLL = 0.1  # seconds between looks at the autosaves still to come
SAVE_TIMEOUT = 60.0
PROGRESS = """import time
for i in range(200):
    print(f"step {i}", flush=True)
    time.sleep(0.01)"""


def long_source(changed: bool) -> str:
    """1,000,000 characters in 20,000 lines; `changed`: every other line differs, the case
    that is hardest for a line diff."""
    lines = []
    for i in range(20_000):
        name, value = ("b", 2 * i) if changed and i % 2 else ("a", i)
        lines.append(f"{name}{i:07d} = {value:>38}\n")
    source = "".join(lines)
    assert len(source) == MAX_SOURCE_CHARS
    return source


async def autosaved(http: httpx.AsyncClient) -> float:
    """Wait until no room has an autosave to come; return the longest stall meanwhile."""
    stall = 0.0
    deadline = time.monotonic() + SAVE_TIMEOUT
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL)
        report = await loop_report(http)
        stall = max(stall, report["max_stall_ms"])
        if not report["saving_rooms"]:
            return stall
    raise TimeoutError(f"rooms still had autosaves to come after {SAVE_TIMEOUT:g} s")


async def stall_row(
    http: httpx.AsyncClient,
    name: str,
    work: Awaitable[object],
    target: float | None = STALL_TARGET_MS,
) -> list[Row]:
    """How long the call `work` took, the longest stall while it ran, and the longest
    while the autosave it caused ran (a second later, on the same loop), if it caused one."""
    await loop_report(http)  # starts a new measurement
    start = time.perf_counter()
    await work
    call = (time.perf_counter() - start) * 1000
    during = await loop_report(http)
    rows = [
        Row(f"{name}: call", [call]),
        Row(f"{name}: stall (call)", [during["max_stall_ms"]], target=target),
    ]
    if during["saving_rooms"]:
        rows.append(Row(f"{name}: stall (autosave)", [await autosaved(http)], target=target))
    return rows


async def stall_rows(server: Server, big: str) -> list[Row]:
    """Stalls on a notebook with one 1,000,000-character cell and on `big`, a 10,000-cell
    notebook whose room is open."""
    long_cell = write_notebook(server.root, [long_source(changed=False)], "long-cell.ipynb")
    rows: list[Row] = []
    async with (
        LeanClient(server.mcp_url, server.headers) as mcp,
        httpx.AsyncClient(base_url=server.url, headers=server.headers) as http,
    ):
        await mcp.call("cell_get", path=long_cell, index=0, outputs="none")  # opens the room
        await autosaved(http)  # of earlier edits: not part of what follows
        update = mcp.call("cell_update", path=long_cell, index=0, source=long_source(True))
        rows += await stall_row(http, "cell_update 1M chars", update)
        update = mcp.call("cell_update", path=big, index=5_000, source="changed = True")
        rows += await stall_row(http, "cell_update in 10k cells", update, target=None)
        read = mcp.call("notebook_get", path=big, limit=20)
        rows += await stall_row(http, "notebook_get 10k cells limit=20", read)
        read = mcp.call("notebook_get", path=big)
        rows += await stall_row(http, "notebook_get 10k cells, no limit", read)
        progress = await mcp.call("cell_insert", path=big, index=-1, source=PROGRESS)
        await autosaved(http)
        start = mcp.call("cell_execute", path=big, index=0)
        # It starts the kernel. No target: the workload is the streaming of outputs, next.
        rows += await stall_row(http, "1st cell_execute, 10k cells", start, target=None)
        run = mcp.call("cell_execute", path=big, index=progress["index"])
        rows += await stall_row(http, "cell_execute 200 prints, 10k cells", run)
    return rows
