"""Benchmark: round trips of every MCP tool on a 100-cell notebook, edit-to-collaborator
latency, concurrent inserts (throughput and tail latency), against a real server; then how
they hold on a 10,000-cell notebook and 1,000 notebooks (scale.py), event-loop stalls
(stalls.py), what a read costs the model (read_cost.py) and the first calls on a freshly
started server (cold.py); each compared with its target.

Each tool is timed with two clients: a lean JSON-RPC client (the server's own round trip)
and FastMCP's Python client (which adds its own per-call cost).

    python -m bench.bench [--iterations N] [--strict]
"""

import argparse
import asyncio
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
from fastmcp import Client
from jupyter_client.asynchronous.client import AsyncKernelClient

from jupyter_mcp.client import LeanClient
from tests.collab import Collaborator
from tests.conftest import call, client_for, write_notebook
from tests.servers import Server, free_port

from .cold import cold_rows
from .measure import NAME_WIDTH, Figure, Row, print_figures, print_rows, timed, timed_with_cpu
from .read_cost import read_cost_figures
from .scale import size_rows, workspace_rows
from .server import bench_server
from .stalls import stall_rows

READ_TARGET_MS, EDIT_TARGET_MS, COLLAB_TARGET_MS = 3.0, 5.0, 30.0
EXECUTE_TARGET_MS, EXECUTE_OVERHEAD_TARGET_MS = 25.0, 10.0
TAIL_FACTOR = 2.0  # concurrent calls: p95 at most this many times p50
BIG_ITERATIONS = 50  # at most, for calls on a 10,000-cell notebook


class MCP(Protocol):
    async def ping(self) -> Any: ...
    async def call(self, tool: str, **arguments: Any) -> Any: ...


class FastMCPClient:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def ping(self) -> Any:
        return await self.client.ping()

    async def call(self, tool: str, **arguments: Any) -> Any:
        return await call(self.client, tool, **arguments)


def tool_actions(
    mcp: MCP, path: str, ids: list[str], prefix: str
) -> list[tuple[str, Callable[[int], Awaitable[object]], float]]:
    async def insert_delete(i: int) -> None:
        new = await mcp.call("cell_insert", path=path, index=50, source=f"tmp {i}")
        await mcp.call("cell_delete", path=path, cell_id=new["cell_id"])

    def tool(name: str, **arguments: Any) -> Callable[[int], Awaitable[object]]:
        return lambda i: mcp.call(
            name, **{k: v(i) if callable(v) else v for k, v in arguments.items()}
        )

    read, edit = READ_TARGET_MS, EDIT_TARGET_MS
    return [
        ("ping (transport floor)", lambda i: mcp.ping(), read),
        ("notebook_list", tool("notebook_list"), read),
        ("notebook_get (100 cells)", tool("notebook_get", path=path), read),
        ("cell_get", tool("cell_get", path=path, index=lambda i: i % 100), read),
        ("cell_get by cell_id", tool("cell_get", path=path, cell_id=lambda i: ids[i % 100]), read),
        ("notebook_list_users", tool("notebook_list_users", path=path), read),
        ("room_list", tool("room_list"), read),
        ("cell_update", tool("cell_update", path=path, index=lambda i: i % 100,
                             source=lambda i: f"x = {i}"), edit),
        ("cell_insert + cell_delete (two calls)", insert_delete, 2 * edit),
        ("notebook_create", tool("notebook_create", path=lambda i: f"new/{prefix}{i}.ipynb"), edit),
    ]  # fmt: skip


async def tool_rows(server: Server, iterations: int, path: str) -> list[Row]:
    (server.root / "new").mkdir()
    async with LeanClient(server.mcp_url, server.headers) as lean, client_for(server) as fast:
        clients = {"lean": lean, "fastmcp": FastMCPClient(fast)}
        ids = [c["id"] for c in (await lean.call("notebook_get", path=path))["cells"]]
        rows: dict[str, Row] = {}
        for label, mcp in clients.items():
            for _ in range(30):  # warm up: lazy imports, the room, the session
                await mcp.call("cell_get", path=path, index=0)
                await mcp.ping()
            for name, action, target in tool_actions(mcp, path, ids, label):
                if label == "lean":
                    samples, cpu = await timed_with_cpu(server.process.pid, iterations, action)
                    rows[name] = Row(name, samples, target=target, server_cpu_ms=cpu)
                else:
                    rows[name].fastmcp = await timed(iterations, action)
            shutil.rmtree(server.root / "new")  # the next client lists the same tree
            (server.root / "new").mkdir()
    return list(rows.values())


async def collaboration_rows(server: Server, iterations: int, path: str) -> list[Row]:
    async with LeanClient(server.mcp_url, server.headers) as mcp, Collaborator(server, path) as ada:
        arrived = asyncio.Event()
        expected = [""]

        def on_change(_events: object) -> None:
            if str(ada.notebook.ycells[7]["source"]) == expected[0]:
                arrived.set()

        subscription = ada.notebook.ycells.observe_deep(on_change)

        async def edit_to_collaborator(i: int) -> None:
            arrived.clear()
            expected[0] = f"seen {i}"
            await mcp.call("cell_update", path=path, index=7, source=expected[0])
            await asyncio.wait_for(arrived.wait(), 5)

        edits = await timed(iterations, edit_to_collaborator)

        async def watch_wakeup() -> float:
            watch = asyncio.create_task(mcp.call("notebook_watch", path=path, timeout=10))
            await asyncio.sleep(0.02)
            start = time.perf_counter()
            ada.notebook.ycells[3]["source"] += "#"
            await watch
            return (time.perf_counter() - start) * 1000

        wakeups = [await watch_wakeup() for _ in range(min(iterations, 50))]
        ada.notebook.ycells.unobserve(subscription)
    return [
        Row("edit -> collaborator (from the call)", edits, target=COLLAB_TARGET_MS),
        Row("collaborator edit -> watch returns", wakeups),
    ]


async def execution_rows(server: Server, iterations: int) -> list[Row]:
    """cell_execute of 1+1 on a warm kernel, and a bare execute_interactive on that kernel."""
    path = write_notebook(server.root, ["1 + 1"], "execute.ipynb")
    async with LeanClient(server.mcp_url, server.headers) as mcp, client_for(server) as fast:
        for _ in range(10):
            assert (await mcp.call("cell_execute", path=path, index=0))["status"] == "ok"
        lean = await timed(iterations, lambda i: mcp.call("cell_execute", path=path, index=0))
        fastmcp = await timed(iterations, lambda i: call(fast, "cell_execute", path=path, index=0))
        started: list[str] = []

        async def start(i: int) -> None:
            answer = await mcp.call("cell_execute", path=path, index=0, wait=False)
            started.append(answer["execution_id"])

        no_wait = await timed(iterations, start)
        for execution_id in started:  # every run has ended: what remains is the call itself
            await mcp.call("execution_wait", execution_id=execution_id, timeout=60)
        collect = await timed(
            iterations,
            lambda i: mcp.call("execution_wait", execution_id=started[i % len(started)], timeout=0),
        )
        async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
            sessions = (await http.get("api/sessions")).json()
        kernel_id = next(s["kernel"]["id"] for s in sessions if s["path"] == path)
        runtime = Path(server.env["JUPYTER_RUNTIME_DIR"])
        client = AsyncKernelClient(connection_file=str(runtime / f"kernel-{kernel_id}.json"))
        client.load_connection_file()
        client.start_channels()
        await client.wait_for_ready(timeout=30)
        try:
            for _ in range(10):
                await client.execute_interactive("1 + 1", output_hook=lambda msg: None)
            bare = await timed(
                iterations,
                lambda i: client.execute_interactive("1 + 1", output_hook=lambda msg: None),
            )
        finally:
            client.stop_channels()
    overhead = [statistics.median(lean) - statistics.median(bare)]
    return [
        Row("cell_execute 1+1 (warm kernel)", lean, fastmcp, EXECUTE_TARGET_MS),
        Row("cell_execute wait=false: the answer", no_wait, target=EXECUTE_TARGET_MS),
        Row("execution_wait of a finished run", collect, target=READ_TARGET_MS),
        Row("bare execute_interactive 1+1", bare),
        Row("cell_execute overhead over bare (p50)", overhead, target=EXECUTE_OVERHEAD_TARGET_MS),
    ]


FLOOR_SERVER = """
import sys
import uvicorn
from fastmcp import FastMCP

mcp = FastMCP("floor")


@mcp.tool
async def echo(x: int) -> dict:
    return {"x": x}


uvicorn.run(mcp.http_app(path="/mcp"), port=int(sys.argv[1]), log_level="warning")
"""


async def floor_rows(iterations: int) -> list[Row]:
    """The same client against FastMCP alone on uvicorn, with a trivial tool: the cost of
    the MCP stack itself, below which no server built on it can answer."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", FLOOR_SERVER, str(port))
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    await http.get(url)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        async with LeanClient(url, {}) as mcp:
            for _ in range(30):
                await mcp.ping()
                await mcp.call("echo", x=1)
            ping, ping_cpu = await timed_with_cpu(process.pid, iterations, lambda i: mcp.ping())
            echo, echo_cpu = await timed_with_cpu(
                process.pid, iterations, lambda i: mcp.call("echo", x=i)
            )
    finally:
        process.terminate()
        await process.wait()
    return [
        Row("reference: ping, FastMCP on uvicorn", ping, server_cpu_ms=ping_cpu),
        Row("reference: trivial tool, FastMCP on uvicorn", echo, server_cpu_ms=echo_cpu),
    ]


async def concurrent_inserts(server: Server, clients: int = 8, each: int = 25) -> float:
    path = write_notebook(server.root, ["seed"], "concurrent.ipynb")

    async def agent(n: int) -> None:
        async with client_for(server) as mcp:
            await call(mcp, "cell_get", path=path, index=0)
            for i in range(each):
                await call(mcp, "cell_insert", path=path, source=f"{n}:{i}")

    start = time.perf_counter()
    await asyncio.gather(*(agent(n) for n in range(clients)))
    elapsed = time.perf_counter() - start
    async with client_for(server) as mcp:
        cells = (await call(mcp, "notebook_get", path=path))["cells"]
    assert len(cells) == 1 + clients * each, len(cells)
    return clients * each / elapsed


async def tail_latency(server: Server, rounds: int, sessions: int = 4, each: int = 10) -> Row:
    """Per-call latency of `sessions` clients with `each` cell_insert calls in flight, all at
    once, over `rounds` rounds."""
    path = write_notebook(server.root, ["seed"], "tail.ipynb")

    async def insert(mcp: LeanClient, source: str) -> float:
        start = time.perf_counter()
        await mcp.call("cell_insert", path=path, source=source)
        return (time.perf_counter() - start) * 1000

    samples: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(LeanClient(server.mcp_url, server.headers))
            for _ in range(sessions)
        ]
        for r in range(rounds + 1):  # round 0 opens the connections and the room: not counted
            calls = [insert(mcp, f"{r}:{n}:{i}") for n, mcp in enumerate(clients)
                     for i in range(each)]  # fmt: skip
            latencies = await asyncio.gather(*calls)
            if r:
                samples += latencies
    name = f"{sessions} sessions x {each} concurrent cell_insert"
    target = TAIL_FACTOR * statistics.median(samples)
    return Row(name, samples, target=target, on="p95", basis=f"{TAIL_FACTOR:g}x p50")


async def run(server: Server, iterations: int) -> tuple[list[Row], list[Figure], float]:
    path = write_notebook(server.root, [f"x{i} = {i}" for i in range(100)], "bench.ipynb")
    rows = await tool_rows(server, iterations, path)
    rows += await collaboration_rows(server, iterations, path)
    rows += await execution_rows(server, iterations)
    throughput = await concurrent_inserts(server)
    rows.append(await tail_latency(server, rounds=max(3, iterations // 20)))
    figures = await read_cost_figures(server)
    scaled, memory, big = await size_rows(server, min(iterations, BIG_ITERATIONS))
    rows += scaled
    rows += await stall_rows(server, big)  # which ends with no autosave to come
    rows += await workspace_rows(server, iterations)  # last: it changes what notebook_list lists
    return rows, memory + figures, throughput


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, bench_server(Path(home)) as server:
        rows, figures, throughput = asyncio.run(run(server, args.iterations))
    floor = asyncio.run(floor_rows(args.iterations))
    # After the warmed server has stopped, so that it takes no CPU from the fresh ones.
    rows += cold_rows({row.name: row for row in rows})
    missed = print_rows(rows + floor)
    name = "8 clients x 25 concurrent inserts"
    print(f"{name:{NAME_WIDTH}} {throughput:8.0f} cells/s (FastMCP Client)")
    print()
    missed += print_figures(figures)
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
