"""The server the benchmark measures: `jupyter lab` as the tests start it, with the loop
monitor (bench/loop_monitor.py) loaded and room for a 1,000,000-character cell."""

import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx

from tests.servers import Server, running_server

REPOSITORY = Path(__file__).resolve().parent.parent
MAX_SOURCE_CHARS = 1_000_000  # the stall workload edits a cell this long


def bench_server(home: Path) -> AbstractContextManager[Server]:
    # The server runs in `home`, not in the repository: the monitor is found on PYTHONPATH.
    pythonpath = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))
    return running_server(
        home,
        "--ServerApp.jpserver_extensions=bench.loop_monitor=True",
        f"--MCPExtension.max_source_chars={MAX_SOURCE_CHARS}",
        env={"PYTHONPATH": pythonpath},
    )


async def loop_report(http: httpx.AsyncClient) -> dict[str, Any]:
    """{max_stall_ms: the longest the server's event loop was blocked since the last call
    (the first call starts the monitor), saving_rooms: rooms with an autosave to come}."""
    response = await http.get("bench/loop-stall")
    response.raise_for_status()
    return response.json()


def rss_mb(pid: int) -> float:
    """The resident memory of a process, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")
