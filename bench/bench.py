"""Benchmark: round trips of every MCP tool on a 100-cell notebook, edit-to-collaborator
latency and concurrent-insert throughput, against a real server; compared with the targets.

    python -m bench.bench [--iterations N] [--strict]
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.collab import Collaborator
from tests.conftest import call, client_for, write_notebook
from tests.servers import Server, running_server

READ_TARGET_MS, EDIT_TARGET_MS, COLLAB_TARGET_MS = 3.0, 5.0, 30.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(n: int, action: Callable[[int], Awaitable[object]]) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        await action(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def run(server: Server, iterations: int) -> list[tuple[str, list[float], float | None]]:
    path = write_notebook(server.root, [f"x{i} = {i}" for i in range(100)], "bench.ipynb")
    rows: list[tuple[str, list[float], float | None]] = []
    async with client_for(server) as mcp:
        for _ in range(20):  # warm up: lazy imports, the room, the session
            await call(mcp, "cell_get", path=path, index=0)
            await mcp.ping()
        ids = [c["id"] for c in (await call(mcp, "notebook_get", path=path))["cells"]]

        async def insert_delete(i: int) -> None:
            new = await call(mcp, "cell_insert", path=path, index=50, source=f"tmp {i}")
            await call(mcp, "cell_delete", path=path, cell_id=new["cell_id"])

        reads: dict[str, Callable[[int], Awaitable[object]]] = {
            "ping (transport floor)": lambda i: mcp.ping(),
            "notebook_list": lambda i: call(mcp, "notebook_list"),
            "notebook_get (100 cells)": lambda i: call(mcp, "notebook_get", path=path),
            "cell_get": lambda i: call(mcp, "cell_get", path=path, index=i % 100),
            "cell_get by cell_id": lambda i: call(mcp, "cell_get", path=path, cell_id=ids[i % 100]),
            "notebook_list_users": lambda i: call(mcp, "notebook_list_users", path=path),
            "room_list": lambda i: call(mcp, "room_list"),
        }
        edits: dict[str, Callable[[int], Awaitable[object]]] = {
            "cell_update": lambda i: call(
                mcp, "cell_update", path=path, index=i % 100, source=f"x = {i}"
            ),
            "cell_insert + cell_delete (two calls)": insert_delete,
            "notebook_create": lambda i: call(mcp, "notebook_create", path=f"new/{i}.ipynb"),
        }
        (server.root / "new").mkdir()
        for name, action in reads.items():
            rows.append((name, await timed(iterations, action), READ_TARGET_MS))
        for name, action in edits.items():
            target = EDIT_TARGET_MS * (2 if "two calls" in name else 1)
            rows.append((name, await timed(iterations, action), target))

        async with Collaborator(server, path) as ada:
            arrived = asyncio.Event()
            expected = [""]
            subscription = ada.notebook.ycells.observe_deep(
                lambda _e: (
                    arrived.set() if str(ada.notebook.ycells[7]["source"]) == expected[0] else None
                )
            )

            async def edit_to_collaborator(i: int) -> None:
                arrived.clear()
                expected[0] = f"seen {i}"
                await call(mcp, "cell_update", path=path, index=7, source=expected[0])
                await asyncio.wait_for(arrived.wait(), 5)

            rows.append(
                (
                    "edit -> collaborator",
                    await timed(iterations, edit_to_collaborator),
                    COLLAB_TARGET_MS,
                )
            )

            async def watch_wakeup(i: int) -> None:
                watch = asyncio.create_task(call(mcp, "notebook_watch", path=path, timeout=10))
                await asyncio.sleep(0.02)
                start = time.perf_counter()
                ada.notebook.ycells[3]["source"] += "#"
                await watch
                return time.perf_counter() - start

            wake = [await watch_wakeup(i) * 1000 for i in range(min(iterations, 50))]
            rows.append(("collaborator edit -> watch returns", wake, None))
            ada.notebook.ycells.unobserve(subscription)
    return rows


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, running_server(Path(home)) as server:
        rows = asyncio.run(run(server, args.iterations))
        throughput = asyncio.run(concurrent_inserts(server))
    missed = 0
    print(f"{'measure':42} {'p50 ms':>8} {'p95 ms':>8}  target p50")
    for name, samples, target in rows:
        p50, p95 = statistics.median(samples), percentile(samples, 0.95)
        verdict = ""
        if target is not None:
            ok = p50 <= target
            missed += not ok
            verdict = f"<= {target:g}  {'ok' if ok else 'MISSED'}"
        print(f"{name:42} {p50:8.2f} {p95:8.2f}  {verdict}")
    print(f"{'8 clients x 25 concurrent inserts':42} {throughput:8.0f} cells/s")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
