"""The MCP tools: validate, call, shape the result. Every tool acts on the live document."""

import asyncio
import math
import posixpath
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Annotated, Any

import nbformat
from fastmcp import Context, FastMCP
from fastmcp.tools import ToolResult
from jupyter_client.kernelspec import NoSuchKernel
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import ensure_async
from jupyter_ydoc import YNotebook
from mcp.types import ToolAnnotations
from pydantic import Field

from . import cells, paths
from .errors import NotebookError
from .kernels import Kernels
from .results import run_progress, run_result, run_row, run_started
from .rooms import Rooms
from .runs import Run, Runs

Path = Annotated[
    str,
    Field(description="Notebook path relative to the server root, e.g. 'analysis.ipynb'."),
]
Index = Annotated[int | None, Field(description="0-based cell position (or give cell_id).")]
CellId = Annotated[str | None, Field(description="The cell's id (or give index).")]
Source = Annotated[str, Field(description="The cell's full new source text.")]
Timeout = Annotated[
    float | None,
    Field(description="Seconds the cell may run, counted from when the kernel starts it (not "
          "while it waits behind other work), before it is interrupted (default and maximum "
          "are set by the server)."),
]  # fmt: skip
Wait = Annotated[
    bool,
    Field(description="true (default): return the result when the run ends. false: return "
          "{execution_id, status} at once and collect the result with execution_wait."),
]  # fmt: skip


@dataclass(frozen=True)
class Limits:
    max_source_chars: int
    max_output_chars: int
    execution_timeout: float
    max_execution_timeout: float


# Hints MCP clients use to decide which calls to approve without asking the person.
_READS = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)
_ADDS = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
_OVERWRITES = ToolAnnotations(readOnlyHint=False, destructiveHint=True, openWorldHint=False)
_RUNS_CODE = ToolAnnotations(readOnlyHint=False, destructiveHint=True, openWorldHint=True)
TOOL_ANNOTATIONS: dict[str, ToolAnnotations] = {
    "notebook_list": _READS,
    "notebook_get": _READS,
    "notebook_watch": _READS,
    "notebook_list_users": _READS,
    "cell_get": _READS,
    "room_list": _READS,
    "notebook_create": _ADDS,
    "cell_insert": _ADDS,
    "cell_update": _OVERWRITES,
    "cell_delete": _OVERWRITES,
    "kernel_restart": _OVERWRITES,
    "kernel_interrupt": ToolAnnotations(
        readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
    ),
    "cell_execute": _RUNS_CODE,
    "notebook_execute": _RUNS_CODE,
    "execution_wait": _READS,
    "execution_list": _READS,
}


# Tools that MCP clients may run as tasks (the 2026-07-28 tasks extension), where the
# fastmcp-tasks package is installed.
TASK_TOOLS = {"cell_execute", "notebook_execute"}


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

    def tool(function: Callable[..., Any]) -> Callable[..., Any]:
        name = function.__name__
        if name in disabled:
            return function
        options: dict[str, Any] = {"annotations": TOOL_ANNOTATIONS[name]}
        if tasks is not None and name in TASK_TOOLS:
            options["task"] = True  # a task when the client asks for one, else a plain call
        return mcp.tool(**options)(function)

    def root_dir() -> str:
        return serverapp.contents_manager.root_dir

    def notebook_path(path: str, *, must_exist: bool = True) -> str:
        return paths.resolve_notebook(root_dir(), path, must_exist=must_exist)

    def check_source(source: str) -> None:
        if len(source) > limits.max_source_chars:
            raise NotebookError(
                f"The source has {len(source)} characters; the limit is "
                f"{limits.max_source_chars}. Split it over several cells."
            )

    def execution_timeout(timeout: float | None) -> float:
        if timeout is None:
            return limits.execution_timeout
        if not math.isfinite(timeout) or timeout <= 0:
            raise NotebookError("timeout must be a positive, finite number of seconds.")
        return min(float(timeout), limits.max_execution_timeout)

    async def result(run: Run) -> ToolResult:
        if run.failure is not None:
            raise NotebookError(f"Execution {run.execution_id}: {run.failure}")
        return run_result(run, await runs.locate(run), limits.max_output_chars)

    async def launch(
        ctx: Context, kind: str, api_path: str, nb: YNotebook, cells_to_run: list[tuple[int, str]],
        timeout: float, wait: bool,
    ) -> ToolResult:  # fmt: skip
        """Start a run of `cells_to_run` in the notebook's kernel; with `wait`, wait for it,
        reporting progress every second (a caller that goes away leaves the run going)."""
        # A missing or empty kernelspec name means the default kernel, as for JupyterLab. An
        # uninstalled one is refused now, before anything runs, when there is no kernel yet.
        kernelspec = cells.metadata(nb).get("kernelspec", {}).get("name") or None
        if await kernels.find(api_path) is None:
            await kernels.check_kernelspec(kernelspec)
        run = runs.start(
            kind, room_id=rooms.room_id(api_path), path=api_path, cells=cells_to_run,
            kernelspec=kernelspec, timeout=timeout,
        )  # fmt: skip
        if not wait:
            return ToolResult(structured_content=run_started(run, await runs.locate(run)))
        total = len(run.steps) if kind == "notebook" else None
        while not await runs.wait(run, 1.0):
            done = sum(s.execution is not None for s in run.steps)
            progress = float(done) if total is not None else run.elapsed
            await ctx.report_progress(progress, total, _progress_message(run))
        return await result(run)

    @tool
    async def notebook_list() -> list[dict[str, str]]:
        """List every notebook (.ipynb) under the server root, hidden folders excluded.

        Returns [{path, name}], sorted by path. Opens no notebook."""
        found = await asyncio.to_thread(paths.list_notebooks, root_dir())
        return [{"path": p, "name": posixpath.basename(p)} for p in found]

    @tool
    async def notebook_create(path: Path) -> dict[str, str]:
        """Create a new, empty notebook with the server's default kernel.

        Refuses a path that already exists. Returns {path, name}."""
        api_path = notebook_path(path, must_exist=False)
        if await ensure_async(serverapp.contents_manager.exists(api_path)):
            raise NotebookError(f"'{api_path}' already exists; choose another path.")
        parent = posixpath.dirname(api_path)
        if parent and not await ensure_async(serverapp.contents_manager.dir_exists(parent)):
            raise NotebookError(f"Folder '{parent}' does not exist; create the notebook elsewhere.")
        content = nbformat.v4.new_notebook(metadata=await _kernel_metadata(serverapp))
        model = {"type": "notebook", "format": "json", "content": content}
        await ensure_async(serverapp.contents_manager.save(model, api_path))
        return {"path": api_path, "name": posixpath.basename(api_path)}

    @tool
    async def notebook_get(path: Path) -> dict[str, Any]:
        """Read a whole notebook as nbformat JSON (cells, metadata, nbformat, nbformat_minor),
        exactly as it is live, including edits not yet saved."""
        return cells.read(await rooms.notebook(notebook_path(path)))

    @tool
    async def notebook_watch(
        path: Path,
        timeout: Annotated[float, Field(description="Seconds to wait, 1 to 300.")] = 30,
    ) -> dict[str, Any]:
        """Wait until someone changes the notebook (cells or metadata), or until the timeout.

        Returns {changed: true, cell_count} on the first change after the call, otherwise
        {changed: false}. Use it to react to a person's edits instead of polling."""
        api_path = notebook_path(path)
        room_id = rooms.room_id(api_path)
        async with rooms.in_use(room_id):
            await rooms.notebook(api_path)
            seconds = min(max(float(timeout), 1.0), 300.0)
            return await cells.watch(lambda: rooms.current(room_id), seconds)

    @tool
    async def notebook_list_users(path: Path) -> list[dict[str, Any]]:
        """List who is on the notebook now: [{id, name, display_name, ..., is_mcp}] from the
        collaboration room's awareness. Returns [] when nobody has the notebook open."""
        return rooms.users(notebook_path(path))

    @tool
    async def cell_get(path: Path, index: Index = None, cell_id: CellId = None) -> dict[str, Any]:
        """Read one cell: {index, id, cell_type, source, metadata, outputs?, execution_count?}."""
        nb = await rooms.notebook(notebook_path(path))
        return cells.view(nb, cells.locate(nb, index, cell_id))

    @tool
    async def cell_update(
        path: Path,
        source: Source,
        index: Index = None,
        cell_id: CellId = None,
        cell_type: Annotated[
            str | None, Field(description="Change the type: code, markdown or raw.")
        ] = None,
    ) -> dict[str, Any]:
        """Replace a cell's source (and optionally its type).

        The edit is applied as a minimal text change inside the existing cell: its id, its
        position, its outputs and other people's cursors are kept. Returns {index, cell_id}."""
        api_path = notebook_path(path)
        check_source(source)
        if cell_type is not None:
            cells.check_cell_type(cell_type)
        async with rooms.editing(api_path) as nb:
            i = cells.locate(nb, index, cell_id)
            cells.update(nb, i, source, cell_type)
            ycell = nb.ycells[i]
            what = f"cell_update of cell {ycell['id']} (index {i})"
            rooms.edited(api_path, what, ycell["id"], source, ycell["cell_type"])
            return {"index": i, "cell_id": ycell["id"], "updated": True}

    @tool
    async def cell_insert(
        path: Path,
        source: Source,
        index: Annotated[
            int | None,
            Field(description="Position of the new cell: 0..len, or -1 (default) to append."),
        ] = None,
        cell_type: Annotated[str, Field(description="code, markdown or raw.")] = "code",
        cell_id: Annotated[
            str | None, Field(description="Insert before the cell with this id (instead of index).")
        ] = None,
    ) -> dict[str, Any]:
        """Insert a new cell. Returns {index, cell_id, cell_count} of the new cell."""
        api_path = notebook_path(path)
        check_source(source)
        cells.check_cell_type(cell_type)
        async with rooms.editing(api_path) as nb:
            i = cells.insert_position(nb, index, cell_id)
            new_id = cells.insert(nb, i, source, cell_type)
            what = f"cell_insert of cell {new_id} (index {i})"
            rooms.edited(api_path, what, new_id, source, cell_type)
            return {"index": i, "cell_id": new_id, "cell_count": len(nb.ycells)}

    @tool
    async def cell_delete(
        path: Path, index: Index = None, cell_id: CellId = None
    ) -> dict[str, Any]:
        """Delete one cell. Returns {index, cell_id, cell_count} naming the deleted cell."""
        api_path = notebook_path(path)
        async with rooms.editing(api_path) as nb:
            i = cells.locate(nb, index, cell_id)
            deleted_id = nb.ycells[i]["id"]
            del nb.ycells[i]
            rooms.edited(
                api_path, f"cell_delete of cell {deleted_id} (index {i})", deleted_id, None
            )
            return {"index": i, "cell_id": deleted_id, "cell_count": len(nb.ycells)}

    @tool
    async def cell_execute(
        ctx: Context,
        path: Path,
        index: Index = None,
        cell_id: CellId = None,
        timeout: Timeout = None,
        wait: Wait = True,
    ) -> ToolResult:
        """Run a code cell in the notebook's own kernel (the one JupyterLab uses for it,
        started if there is none) and return its outputs.

        Outputs stream into the live cell as they arrive, so people watching see them; the
        result has {execution_id, index, cell_id, status: ok|error|timeout|died|skipped,
        execution_count, outputs, error?}. Long text is cut in the result (the notebook keeps
        all of it); images come back as image content. The run belongs to the server: if
        this call is cancelled or times out on the client, the cell still runs to its end and
        its outputs still land in the notebook; execution_wait(execution_id) collects them
        (the id is in the progress messages). A blank cell is not sent to the kernel.
        """
        api_path = notebook_path(path)
        seconds = execution_timeout(timeout)
        nb = await rooms.notebook(api_path)
        cell = cells.view(nb, cells.locate(nb, index, cell_id))
        if cell["cell_type"] != "code":
            raise NotebookError(
                f"Cell {cell['index']} is a {cell['cell_type']} cell; only code cells run."
            )
        return await launch(ctx, "cell", api_path, nb, [(cell["index"], cell["id"])], seconds, wait)

    @tool
    async def notebook_execute(
        ctx: Context, path: Path, timeout: Timeout = None, wait: Wait = True
    ) -> ToolResult:
        """Run every code cell of the notebook in order, in its own kernel, stopping at the
        first cell that fails or times out. `timeout` applies to each cell.

        Returns {execution_id, status, cells: [{index, cell_id, status, execution_count,
        outputs, note?}], error?}; each cell's outputs are also written into the live
        notebook, images come back as image content. Cells deleted or blanked before their
        turn are skipped (status skipped, with a note) and the run goes on. Like cell_execute,
        the run belongs to the server and execution_wait collects it."""
        api_path = notebook_path(path)
        seconds = execution_timeout(timeout)
        nb = await rooms.notebook(api_path)
        return await launch(ctx, "notebook", api_path, nb, cells.code_cells(nb), seconds, wait)

    @tool
    async def execution_wait(
        execution_id: Annotated[
            str, Field(description="The execution_id from cell_execute or notebook_execute.")
        ],
        timeout: Annotated[float, Field(description="Seconds to wait, 0 to 300.")] = 30,
    ) -> ToolResult:
        """Wait for an execution started with wait=false (or one whose call was abandoned).

        Returns the same result the blocking call returns once the run has ended; at the
        timeout, {execution_id, status: queued|running, elapsed, index, cell_id,
        outputs_so_far} (for a notebook also the cells done so far). Call it again to keep
        waiting; kernel_interrupt stops the run."""
        run = runs.get(execution_id)
        seconds = timeout if math.isfinite(timeout) else 0.0
        if await runs.wait(run, min(max(seconds, 0.0), 300.0)):
            return await result(run)
        return run_progress(run, await runs.locate(run), limits.max_output_chars)

    @tool
    async def execution_list(
        path: Annotated[
            str | None, Field(description="Only this notebook's executions (default: all).")
        ] = None,
    ) -> list[dict[str, Any]]:
        """List the executions that are queued, running, or finished recently (kept for a
        while after they end), newest first: [{execution_id, kind, path, status, created,
        elapsed, cells: [{index, cell_id, status}], error?}]."""
        room_id = rooms.known_room_id(notebook_path(path)) if path else None
        if path and room_id is None:
            return []
        return [run_row(run, await runs.locate(run)) for run in runs.list(room_id)]

    async def on_kernel(path: str, act: Callable[[str], Awaitable[None]], done: str) -> dict:
        """Run `act` on the notebook's kernel, if it has one; the result says which."""
        api_path = notebook_path(path)
        kernel_id = await kernels.find(api_path)
        if kernel_id is None:
            return {done: False, "message": f"'{api_path}' has no running kernel."}
        await act(kernel_id)
        return {done: True, "kernel_id": kernel_id, "message": f"Kernel {done}."}

    @tool
    async def kernel_interrupt(path: Path) -> dict[str, Any]:
        """Interrupt the notebook's kernel (stops the running cell, keeps the variables).

        Returns {interrupted, kernel_id?, message}."""
        return await on_kernel(path, kernels.interrupt, "interrupted")

    @tool
    async def kernel_restart(path: Path) -> dict[str, Any]:
        """Restart the notebook's kernel: every variable and import is lost.

        Returns {restarted, kernel_id?, message}."""
        return await on_kernel(path, kernels.restart, "restarted")

    @tool
    async def room_list() -> list[dict[str, Any]]:
        """List the open collaboration rooms: [{room_id, path, file_id, users, user_count,
        has_kernel}], one per open document. user_count counts connected JupyterLab clients."""
        return await rooms.describe()

    return mcp


def _progress_message(run: Run) -> str:
    step = run.current
    message = f"execution {run.execution_id}: {run.status}"
    if run.kind == "notebook" and step is not None:
        n = run.steps.index(step) + 1
        message += f", cell {n}/{len(run.steps)} ({step.cell_id})"
    outputs = step.outputs if step is not None else None
    if outputs is not None and outputs.started is not None:
        message += f" for {time.monotonic() - outputs.started:.0f} s"
    else:
        message += f" for {run.elapsed:.0f} s"
    last = outputs.outputs[-1] if outputs is not None and outputs.outputs else None
    if last is not None and last["output_type"] == "stream":
        message += f"; last: {last['text'][-200:]!r}"
    return message


def _tasks_extension() -> Any:
    """FastMCP 4's tasks extension when fastmcp-tasks is installed (the `tasks` extra), else
    None: wait=false and execution_wait serve every client the same way. Its store is
    in-process memory, so task bodies run on Jupyter's event loop like every tool."""
    try:
        from fastmcp_tasks import TasksExtension
    except ImportError:
        return None
    return TasksExtension(url="memory://")


async def _kernel_metadata(serverapp: ServerApp) -> dict[str, Any]:
    name = serverapp.kernel_manager.default_kernel_name
    try:
        spec = await ensure_async(serverapp.kernel_spec_manager.get_kernel_spec(name))
    except NoSuchKernel:
        return {}  # a notebook without kernelspec metadata is still valid
    return {
        "kernelspec": {"name": name, "display_name": spec.display_name, "language": spec.language},
        "language_info": {"name": spec.language},
    }
