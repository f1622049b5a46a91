"""Tools that run code in a notebook's kernel, and follow the runs."""

import math
import time
from typing import Annotated, Any

from fastmcp import Context
from fastmcp.tools import ToolResult
from jupyter_ydoc import YNotebook
from pydantic import Field

from .. import cells
from ..errors import NotebookError
from ..results import run_progress, run_result, run_row, run_started
from ..runs import Run
from .common import (
    READS,
    RUN_SCHEMA,
    RUNS_CODE,
    CellId,
    Index,
    Path,
    Register,
    Timeout,
    Toolbox,
    Wait,
)


async def result(t: Toolbox, run: Run) -> ToolResult:
    """What a call returns for a run that has ended."""
    if run.failure is not None:
        raise NotebookError(f"Execution {run.execution_id}: {run.failure}")
    return run_result(run, await t.runs.locate(run), t.limits.max_output_chars)


async def runnable_kernelspec(t: Toolbox, api_path: str, nb: YNotebook) -> str | None:
    """The notebook's kernelspec name for a run. A missing or empty one means the default
    kernel, as for JupyterLab; an uninstalled one is refused now, before anything runs,
    when there is no kernel yet."""
    kernelspec = cells.metadata(nb).get("kernelspec", {}).get("name") or None
    if await t.kernels.find(api_path) is None:
        await t.kernels.check_kernelspec(kernelspec)
    return kernelspec


async def launch(
    t: Toolbox, ctx: Context, kind: str, api_path: str, nb: YNotebook,
    cells_to_run: list[tuple[int, str]], timeout: float, wait: bool,
) -> ToolResult:  # fmt: skip
    """Start a run of `cells_to_run` in the notebook's kernel; with `wait`, wait for it,
    reporting progress every second (a caller that goes away leaves the run going)."""
    runs = t.runs
    kernelspec = await runnable_kernelspec(t, api_path, nb)
    run = runs.start(
        kind, room_id=t.rooms.room_id(api_path), path=api_path, cells=cells_to_run,
        kernelspec=kernelspec, timeout=timeout,
    )  # fmt: skip
    if not wait:
        return ToolResult(structured_content=run_started(run, await runs.locate(run)))
    total = len(run.steps) if kind == "notebook" else None
    while not await runs.wait(run, 1.0):
        done = sum(s.execution is not None for s in run.steps)
        progress = float(done) if total is not None else run.elapsed
        await ctx.report_progress(progress, total, _progress_message(run))
    return await result(t, run)


def register(tool: Register, t: Toolbox) -> None:
    rooms, runs = t.rooms, t.runs

    @tool(RUNS_CODE, RUN_SCHEMA)
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
        api_path = t.notebook_path(path)
        seconds = t.execution_timeout(timeout)
        nb = await rooms.notebook(api_path)
        cell = cells.view(nb, cells.locate(nb, index, cell_id))
        if cell["cell_type"] != "code":
            raise NotebookError(
                f"Cell {cell['index']} is a {cell['cell_type']} cell; only code cells run."
            )
        to_run = [(cell["index"], cell["id"])]
        return await launch(t, ctx, "cell", api_path, nb, to_run, seconds, wait)

    @tool(RUNS_CODE, RUN_SCHEMA)
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
        api_path = t.notebook_path(path)
        seconds = t.execution_timeout(timeout)
        nb = await rooms.notebook(api_path)
        return await launch(t, ctx, "notebook", api_path, nb, cells.code_cells(nb), seconds, wait)

    @tool(READS, RUN_SCHEMA)
    async def execution_wait(
        execution_id: Annotated[
            str,
            Field(description="The execution_id of a cell, notebook or kernel_execute run."),
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
            return await result(t, run)
        return run_progress(run, await runs.locate(run), t.limits.max_output_chars)

    @tool(READS)
    async def execution_list(
        path: Annotated[
            str | None, Field(description="Only this notebook's executions (default: all).")
        ] = None,
    ) -> list[dict[str, Any]]:
        """List the executions that are queued, running, or finished recently (kept for a
        while after they end), newest first: [{execution_id, kind, path, status, created,
        elapsed, cells: [{index, cell_id, status}], error?}]."""
        room_id = rooms.known_room_id(t.notebook_path(path)) if path else None
        if path and room_id is None:
            return []
        return [run_row(run, await runs.locate(run)) for run in runs.list(room_id)]


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
