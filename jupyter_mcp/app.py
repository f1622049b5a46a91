"""The Jupyter Server extension: configuration, the /mcp handler and the lifecycle."""

import asyncio
import contextlib
import os
import queue
import re
import threading
import time

import nbformat
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado.httputil import HTTPHeaders, HTTPServerRequest
from tornado.routing import RuleRouter
from tornado.web import Application
from traitlets import Float, Int, List, Unicode, default

from .authorization import TOOL_NAMES, refusal, required_permissions
from .bridge import ASGIHandler
from .kernels import Kernels
from .rooms import Rooms
from .runs import Runs
from .tools import Limits, create_server

MCP_PATH = "/mcp"
KERNEL_SETTLE_SECONDS = 2.0  # at shutdown, for kernels still starting or restarting
TOKEN_VARIABLES = ("JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE")


class MCPExtension(ExtensionApp):
    """Serves an MCP server at <base_url>mcp, on Jupyter's port and behind its auth."""

    name = "jupyter_mcp"
    app_name = "Jupyter MCP"
    description = "MCP server on the live collaborative notebooks of this Jupyter server"
    load_other_extensions = True

    server_name = Unicode(
        config=True,
        help="""Name of the MCP server, shown to MCP clients and to JupyterLab users as the name
        of the agent's cursor. Default: $MCP_SERVER_NAME, else 'jupyter'.""",
    )
    room_idle_timeout = Float(
        config=True,
        help="""Seconds after which a notebook room that only MCP opened, and that nobody is
        connected to, is saved and closed. Default: $MCP_ROOM_IDLE_TIMEOUT_SEC, else 600.""",
    )
    presence_timeout = Float(
        60.0,
        config=True,
        help="Seconds after its last tool call on a notebook that the agent stops showing there.",
    )
    max_source_chars = Int(
        500_000,
        config=True,
        help="""Largest cell source, in characters, that the tools accept. The request carrying
        it must also fit in max_request_bytes.""",
    )
    max_request_bytes = Int(
        4 * 1024 * 1024,
        config=True,
        help="""Largest MCP request body, in bytes (FastMCP 4 takes no more than 4 MiB). A larger
        one is refused with a message saying how to split the work.""",
    )
    max_output_chars = Int(
        20_000,
        config=True,
        help="""Characters of text output an execution result carries; longer output is cut
        in the result (the notebook keeps all of it).""",
    )
    max_read_chars = Int(
        400_000,
        config=True,
        help="""Most characters a read (notebook_get, cell_get) returns; a longer notebook is
        returned in pages (next_start). MCP results travel as one message that carries the
        result twice (text and structured content), and clients cap messages (the Python
        SDK at 1 MiB).""",
    )
    execution_timeout = Float(
        300.0, config=True, help="Seconds a cell may run when the caller gives no timeout."
    )
    max_execution_timeout = Float(
        3600.0, config=True, help="The longest timeout, in seconds, a caller may ask for."
    )
    kernel_ready_timeout = Float(
        60.0,
        config=True,
        help="""Seconds a kernel may take to start and answer before an execution gives up on
        it with an error saying so.""",
    )
    execution_retention = Float(
        3600.0,
        config=True,
        help="""Seconds a finished execution stays collectable with execution_wait and listed by
        execution_list.""",
    )
    execution_retention_count = Int(
        1000, config=True, help="The most finished executions kept; the oldest go first."
    )

    disabled_tools = List(
        Unicode(),
        config=True,
        help="""Tools not to serve, e.g. ["cell_execute", "notebook_execute",
        "kernel_interrupt", "kernel_restart"] for a deployment where agents may edit
        but not run code.""",
    )

    @default("server_name")
    def _default_server_name(self) -> str:
        return os.environ.get("MCP_SERVER_NAME") or "jupyter"

    @default("room_idle_timeout")
    def _default_room_idle_timeout(self) -> float:
        return float(os.environ.get("MCP_ROOM_IDLE_TIMEOUT_SEC") or 600)

    def initialize_settings(self) -> None:
        # Jupyter reads JUPYTER_TOKEN_FILE verbatim, trailing newline included, and no client
        # would ever send that token.
        identity = self.serverapp.identity_provider
        token = identity.token  # read now: its default comes from the variables removed below
        if os.environ.get("JUPYTER_TOKEN_FILE") and not os.environ.get("JUPYTER_TOKEN"):
            if token and token != token.strip():
                identity.token = token.strip()
        # The identity provider holds the token now. Kernels and terminals inherit the
        # server's environment, where `!env` in a cell would write it into the notebook.
        for name in TOKEN_VARIABLES:
            os.environ.pop(name, None)

    def initialize_handlers(self) -> None:
        unknown = set(self.disabled_tools) - TOOL_NAMES
        if unknown:
            self.log.warning("jupyter_mcp: disabled_tools names unknown tools: %s", unknown)
        self.rooms = Rooms(
            self.serverapp,
            user={
                "username": self.server_name,
                "name": self.server_name,
                "display_name": self.server_name,
                "initials": _initials(self.server_name),
                "color": "var(--jp-collaborator-color7)",
            },
        )
        self.kernels = Kernels(self.serverapp, ready_timeout=self.kernel_ready_timeout)
        self.runs = Runs(
            self.rooms,
            self.kernels,
            self.log,
            retention=self.execution_retention,
            retention_count=self.execution_retention_count,
        )
        limits = Limits(
            max_source_chars=self.max_source_chars,
            max_output_chars=self.max_output_chars,
            max_read_chars=self.max_read_chars,
            execution_timeout=self.execution_timeout,
            max_execution_timeout=self.max_execution_timeout,
        )
        self.mcp = create_server(
            self.serverapp,
            self.rooms,
            self.kernels,
            self.runs,
            name=self.server_name,
            limits=limits,
            disabled=set(self.disabled_tools),
        )
        # Jupyter checks Host and Origin itself (allow_remote_access, allow_origin) before the
        # request reaches the app; FastMCP's own check knows nothing of that configuration.
        self.asgi_app = self.mcp.http_app(path=MCP_PATH, host_origin_protection=False)
        self._lifespan_ready = asyncio.Event()
        self._lifespan_stop = asyncio.Event()
        self.handlers.append(
            (
                r"/mcp/?",
                ASGIHandler,
                {
                    "app": self.asgi_app,
                    "asgi_path": MCP_PATH,
                    "ready": self._lifespan_ready,
                    "permissions": required_permissions,
                    "refusal": refusal,
                    "max_request_bytes": self.max_request_bytes,
                    "unavailable": lambda: self.unavailable,
                },
            )
        )

    @property
    def mcp_url(self) -> str:
        return url_path_join(self.serverapp.connection_url, "mcp")

    unavailable: str | None = None  # why /mcp refuses every request, when it must

    async def _start_jupyter_server_extension(self, serverapp: object) -> None:
        self._lifespan_task = asyncio.create_task(self._run_lifespan())
        self._sweeper_task = asyncio.create_task(self._run_sweeper())
        self._warm_up_task = asyncio.create_task(asyncio.to_thread(self._warm_up))
        await self._lifespan_ready.wait()
        # Every extension has added its handlers by now.
        self.unavailable = self._coexistence_problem()
        if self.unavailable:
            self.log.error("jupyter_mcp: %s", self.unavailable)
        else:
            self.log.info("MCP server '%s' at %s", self.server_name, self.mcp_url)

    def _warm_up(self) -> None:
        """Pay at start, in a thread, what the first calls would: nbformat compiles its
        schema validator on the first notebook read (0.1 s here), and jupyter_client reads
        the kernel provisioners from package metadata on the first kernelspec lookup."""
        nbformat.reads(nbformat.writes(nbformat.v4.new_notebook()), as_version=4)
        with contextlib.suppress(Exception):  # a missing default kernel is the calls' to report
            default = self.serverapp.kernel_manager.default_kernel_name
            self.serverapp.kernel_spec_manager.get_kernel_spec(default)

    def _coexistence_problem(self) -> str | None:
        """What keeps /mcp from working on this server's live documents, if anything: another
        extension serving the same route, or a collaboration backend other than
        jupyter_server_ydoc (whose rooms the tools edit: JupyterLab would show other ones)."""
        web_app = self.serverapp.web_app
        base_url = self.serverapp.base_url
        mcp = _handlers(web_app, url_path_join(base_url, "mcp"))
        # Jupyter's own catch-all routes (404 pages) match too; another server has a route of
        # its own.
        others = [h for h, route in mcp if h is not ASGIHandler and "mcp" in route]
        if others:
            names = ", ".join(f"{h.__module__}.{h.__qualname__}" for h in others)
            return (
                f"/mcp is also served by another extension ({names}), so MCP clients would "
                "reach either server unpredictably; jupyter-mcp refuses every /mcp request "
                "until one of the two is disabled (jupyter server extension disable <name>)."
            )
        room = url_path_join(base_url, "api/collaboration/room/json:notebook:0")
        backend = next((h for h, r in _handlers(web_app, room) if "collaboration" in r), None)
        if backend is None or not backend.__module__.startswith("jupyter_server_ydoc."):
            served = "nothing" if backend is None else f"{backend.__module__}"
            return (
                "the collaboration rooms JupyterLab joins are served by "
                f"{served}, not by jupyter_server_ydoc (jupyter-collaboration), whose live "
                "documents the MCP tools edit: people would not see the agents' edits. "
                "jupyter-mcp refuses every /mcp request; enable jupyter-collaboration's "
                "jupyter_server_ydoc and disable the other backend."
            )
        return None

    async def _run_lifespan(self) -> None:
        # anyio scopes must be entered and left in one task: this one, for the server's life.
        async with self.asgi_app.router.lifespan_context(self.asgi_app):
            self._lifespan_ready.set()
            await self._lifespan_stop.wait()

    async def _run_sweeper(self) -> None:
        interval = min(10.0, max(0.2, min(self.room_idle_timeout, self.presence_timeout) / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.rooms.sweep(self.room_idle_timeout, self.presence_timeout)
            except Exception:
                self.log.exception("jupyter_mcp: sweeping idle rooms failed")

    async def stop_extension(self) -> None:
        # Take the documents before the first await: the collaboration extension stops its
        # rooms concurrently, cancelling their pending autosaves.
        open_rooms = self.rooms.snapshot()
        # FastMCP's session manager stops with the lifespan below; later requests would fail.
        self.unavailable = "the server is shutting down."
        for room, unsaved, clients in open_rooms:
            if unsaved is not None:
                try:
                    await self.rooms.save(room, unsaved)
                except Exception:
                    self.log.exception("jupyter_mcp: saving %s at shutdown failed", room.room_id)
            for client in clients:
                # An open collaboration websocket keeps the server process from exiting.
                client.close(1001, "server shutting down")
        self._sweeper_task.cancel()
        await self.kernels.settle(KERNEL_SETTLE_SECONDS)
        _release_worker_threads_when_stopped(asyncio.get_running_loop())
        await self.runs.close()
        self.kernels.close()
        self._lifespan_stop.set()
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.wait_for(self._lifespan_task, 5)


def _release_worker_threads_when_stopped(loop: asyncio.AbstractEventLoop) -> None:
    """Let the process exit once the server's event loop has stopped.

    AnyIO's worker threads (pycrdt's store, FastMCP and others run blocking calls in them)
    are not daemon threads, and each stops only when the task AnyIO took as its root ends;
    under Tornado that can be a collaborator's websocket task, which never ends when the
    peer stops answering, and the interpreter then waits for the idle thread forever. A
    daemon thread stops them whenever the loop is not running (no task can use them then).
    """

    def release() -> None:
        while True:
            time.sleep(0.1)
            if loop.is_running():
                continue
            for thread in threading.enumerate():
                if thread.name == "AnyIO worker thread" and getattr(thread, "loop", None) is loop:
                    with contextlib.suppress(queue.Full):
                        thread.stop()  # type: ignore[attr-defined]

    threading.Thread(target=release, name="jupyter-mcp exit", daemon=True).start()


def _handlers(web_app: Application, path: str) -> list[tuple[type, str]]:
    """(handler class, route pattern) of every route that matches `path`, in the order
    Tornado tries them."""
    request = HTTPServerRequest(method="GET", uri=path, headers=HTTPHeaders({"Host": "localhost"}))
    found = []

    def walk(router: RuleRouter) -> None:
        for rule in router.rules:
            if rule.matcher.match(request) is None:
                continue
            if isinstance(rule.target, RuleRouter):
                walk(rule.target)
            elif isinstance(rule.target, type):
                found.append((rule.target, getattr(rule.matcher, "regex", re.compile("")).pattern))

    walk(web_app.default_router)
    return found


def _initials(name: str) -> str:
    """'Agent Smith' -> 'AS', 'jupyter' -> 'JU', as JupyterLab shows a user."""
    words = name.split()
    return ("".join(w[0] for w in words[:2]) if len(words) > 1 else name[:2]).upper()
