"""A Jupyter server extension for the benchmark: the longest time the server's event loop
was blocked. A task sleeps 1 ms at a time and keeps the largest overshoot. An authenticated
GET of <base_url>bench/loop-stall returns {"max_stall_ms", "saving_rooms"} and starts a new
measurement; saving_rooms counts the rooms with an autosave still to come or under way, so
that the benchmark can wait for the saves a workload causes, which run on the same loop.

bench/server.py loads it, with the repository on the server's PYTHONPATH."""

import asyncio
import time

from jupyter_server.base.handlers import APIHandler
from jupyter_server.serverapp import ServerApp
from jupyter_server_ydoc.rooms import DocumentRoom
from tornado import web

from jupyter_mcp.rooms import has_unsaved_changes

TICK = 0.001  # seconds between wake-ups: shorter than any stall worth reporting


class LoopMonitor:
    def __init__(self) -> None:
        self.max_stall = 0.0
        self.task: asyncio.Task | None = None

    async def watch(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(TICK)
            self.max_stall = max(self.max_stall, time.perf_counter() - start - TICK)

    def take(self) -> float:
        """The longest stall since the last call, in ms; the first call starts watching, so
        that the server runs as usual until the benchmark asks."""
        if self.task is None:
            self.task = asyncio.create_task(self.watch())
        stall, self.max_stall = self.max_stall, 0.0
        return stall * 1000


class LoopStallHandler(APIHandler):
    def initialize(self, monitor: LoopMonitor) -> None:
        self.monitor = monitor

    @web.authenticated
    def get(self) -> None:
        collaboration = self.serverapp.extension_manager.extension_apps["jupyter_server_ydoc"]
        rooms = next(iter(collaboration)).ywebsocket_server.rooms.values()
        saving = sum(isinstance(r, DocumentRoom) and has_unsaved_changes(r) for r in rooms)
        self.finish({"max_stall_ms": self.monitor.take(), "saving_rooms": saving})


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "bench.loop_monitor"}]


def _load_jupyter_server_extension(serverapp: ServerApp) -> None:
    route = serverapp.base_url.rstrip("/") + "/bench/loop-stall"
    serverapp.web_app.add_handlers(".*$", [(route, LoopStallHandler, {"monitor": LoopMonitor()})])
