"""The MCP tools, grouped by what they act on: notebooks, cells, execution, kernels, rooms.
Each group is a module of thin tool functions over the domain code; every tool acts on the
live document."""

from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from fastmcp import FastMCP
from jupyter_server.serverapp import ServerApp
from mcp.types import ToolAnnotations

from ..kernels import Kernels
from ..rooms import Rooms
from ..runs import Runs
from . import cells, execution, kernels, notebooks, rooms
from .common import Limits, Toolbox

__all__ = ["Limits", "create_server"]

GROUPS = (notebooks, cells, execution, kernels, rooms)

# Tools that MCP clients may run as tasks (the 2026-07-28 tasks extension), where the
# fastmcp-tasks package is installed.
TASK_TOOLS = {"cell_execute", "notebook_execute", "kernel_execute"}

INSTRUCTIONS = """\
Tools for the Jupyter notebooks of this server. They act on the same live documents that
people have open in JupyterLab: edits appear to them as they happen, and their edits are
visible here (notebook_get includes unsaved changes). Saving is automatic. Address cells by
index or, more robustly while others edit, by cell_id."""


def create_server(
    serverapp: ServerApp,
    rooms: Rooms,
    kernels: Kernels,
    runs: Runs,
    *,
    name: str,
    limits: Limits,
    disabled: set[str] = frozenset(),
) -> FastMCP:
    """The FastMCP server with every tool, except the `disabled` ones, bound to this
    Jupyter server."""
    # Only tool errors (NotebookError) reach the client with their text; anything else is
    # logged, and the client is told the call failed, without internals.
    mcp = FastMCP(
        name, version=version("jupyter-mcp"), instructions=INSTRUCTIONS, mask_error_details=True
    )
    tasks = _tasks_extension()
    if tasks is not None:
        mcp.add_extension(tasks)

    def tool(
        annotations: ToolAnnotations, output_schema: dict[str, Any] | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def add(function: Callable[..., Any]) -> Callable[..., Any]:
            name = function.__name__
            if name in disabled:
                return function
            options: dict[str, Any] = {"annotations": annotations}
            if output_schema is not None:
                options["output_schema"] = output_schema
            if tasks is not None and name in TASK_TOOLS:
                options["task"] = True  # a task when the client asks for one, else a plain call
            return mcp.tool(**options)(function)

        return add

    toolbox = Toolbox(serverapp, rooms, kernels, runs, limits)
    for group in GROUPS:
        group.register(tool, toolbox)
    # FastMCP 4 builds its session-state store on the first tool call, importing its storage
    # backend (0.4 s here, the whole cold start of that call): build it at server start.
    getattr(mcp, "_state_store", None)
    return mcp


def _tasks_extension() -> Any:
    """FastMCP 4's tasks extension when fastmcp-tasks is installed (the `tasks` extra), else
    None: wait=false and execution_wait serve every client the same way. Its store is
    in-process memory, so task bodies run on Jupyter's event loop like every tool."""
    try:
        from fastmcp_tasks import TasksExtension
    except ImportError:
        return None
    return TasksExtension(url="memory://")
