"""Executions that belong to the server: once a tool call starts one, it runs to its end
whatever becomes of the request (a client that gives up, cancels or disconnects), and any
later call can wait for it or list it by its execution id."""

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

from . import cells
from .errors import NotebookError
from .execution import CellOutputs, Execution, run_cell
from .kernels import Kernels
from .rooms import Rooms

FAILURES = ("error", "timeout", "died")


@dataclass
class Step:
    """One cell of a run, or the code of a run in no cell: `outputs` once it was sent to the
    kernel, `execution` once done."""

    cell_id: str | None  # None for code run in no cell, which writes nothing to the notebook
    index: int | None  # where the cell was when the run was asked for
    outputs: CellOutputs | None = None
    execution: Execution | None = None
    note: str | None = None  # why it did not run
    code: str | None = None  # the code of a run in no cell

    @property
    def status(self) -> str:
        if self.execution is not None:
            return self.execution.status
        return "pending" if self.outputs is None else self.outputs.state


@dataclass
class Run:
    execution_id: str
    kind: str  # "cell", "notebook", or "code" (run in the notebook's kernel, in no cell)
    room_id: str
    path: str  # the notebook's path, followed through renames
    timeout: float
    steps: list[Step]
    created: float = field(default_factory=time.time)
    finished: float | None = None
    failure: str | None = None  # why the run could not start or go on
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def current(self) -> Step | None:
        """The step being run or waiting for the kernel."""
        return next((s for s in self.steps if s.execution is None), None)

    @property
    def status(self) -> str:
        """queued | running while it goes; then ok | error | timeout | died | skipped, or
        failed when it could not run at all."""
        if self.failure is not None:
            return "failed"
        if not self.done.is_set():
            step = self.current
            return "queued" if step is None or step.outputs is None else step.outputs.state
        results = [s.execution.status for s in self.steps if s.execution is not None]
        failed = [status for status in results if status in FAILURES]
        if failed:
            return failed[0]
        return "skipped" if results and set(results) == {"skipped"} else "ok"

    @property
    def elapsed(self) -> float:
        return (self.finished or time.time()) - self.created


class Runs:
    """Every run of this server, kept `retention` seconds after it finished (at most
    `retention_count` finished ones)."""

    def __init__(
        self,
        rooms: Rooms,
        kernels: Kernels,
        log: logging.Logger,
        *,
        retention: float,
        retention_count: int,
    ) -> None:
        self._rooms = rooms
        self._kernels = kernels
        self._log = log
        self._retention = retention
        self._retention_count = retention_count
        self._runs: dict[str, Run] = {}
        self._tasks: set[asyncio.Task] = set()

    def start(
        self,
        kind: str,
        *,
        room_id: str,
        path: str,
        cells: list[tuple[int, str]],
        kernelspec: str | None,
        timeout: float,
    ) -> Run:
        """Start running `cells` ([(index, cell_id)], in order) of the notebook in its kernel."""
        steps = [Step(cell_id, index) for index, cell_id in cells]
        return self._start(kind, room_id, path, steps, kernelspec, timeout)

    def start_code(
        self, code: str, *, room_id: str, path: str, kernelspec: str | None, timeout: float
    ) -> Run:
        """Start running `code` in the notebook's kernel, queued like any run, as no cell:
        nothing is written to the notebook."""
        steps = [Step(None, None, code=code)]
        return self._start("code", room_id, path, steps, kernelspec, timeout)

    def _start(
        self, kind: str, room_id: str, path: str, steps: list[Step], kernelspec: str | None,
        timeout: float,
    ) -> Run:  # fmt: skip
        self._prune()
        run = Run(uuid.uuid4().hex[:16], kind, room_id, path, timeout, steps)
        self._runs[run.execution_id] = run
        task = asyncio.create_task(self._run(run, kernelspec))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    def get(self, execution_id: str) -> Run:
        run = self._runs.get(execution_id)
        if run is None:
            raise NotebookError(
                f"No execution '{execution_id}': it never existed here or finished more than "
                f"{self._retention:g} s ago. execution_list shows the executions there are."
            )
        return run

    def list(self, room_id: str | None = None) -> list[Run]:
        """The runs kept, of one notebook or of all, newest first."""
        self._prune()
        runs = [r for r in self._runs.values() if room_id is None or r.room_id == room_id]
        return sorted(runs, key=lambda r: r.created, reverse=True)

    async def wait(self, run: Run, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the run to end; whether it has."""
        if run.done.is_set():
            return True
        try:
            await asyncio.wait_for(run.done.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def locate(self, run: Run) -> dict[str, int]:
        """Where the run's cells are now, by cell id; follows the notebook's path too."""
        live = await self._rooms.live(run.room_id)
        if live is None:
            return {}
        run.path, nb = live
        return cells.indices(nb)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, run: Run, kernelspec: str | None) -> None:
        try:
            async with self._rooms.in_use(run.room_id):
                kernel_id: str | None = None
                for step in run.steps:
                    code = step.code if step.cell_id is None else await self._code(run, step)
                    if code is None:
                        continue
                    # Started at the first cell that runs: blank or deleted cells need none.
                    kernel_id = kernel_id or await self._kernels.ensure(run.path, kernelspec)
                    step.outputs = CellOutputs(self._rooms, run.room_id, step.cell_id)
                    step.execution = await run_cell(
                        self._kernels, step.outputs, code=code, kernel_id=kernel_id,
                        timeout=run.timeout,
                    )  # fmt: skip
                    if step.execution.status in FAILURES:
                        break
        except NotebookError as error:
            run.failure = str(error)
        except Exception as error:
            self._log.exception("jupyter_mcp: execution %s failed", run.execution_id)
            run.failure = f"The execution failed on the server: {error!r}"
        finally:
            run.finished = time.time()
            run.done.set()

    async def _code(self, run: Run, step: Step) -> str | None:
        """The cell's source as it is now, or None (the step skipped, with a note) when it
        was deleted, is no longer code, or is blank."""
        live = await self._rooms.live(run.room_id)
        if live is None:
            raise NotebookError(f"The notebook '{run.path}' was deleted during the execution.")
        run.path, nb = live
        i = cells.position(nb, step.cell_id)
        ycell = None if i is None else nb.ycells[i]
        if ycell is None or ycell.get("cell_type") != "code":
            step.note = "deleted before it ran" if ycell is None else "no longer a code cell"
        elif not str(ycell["source"]).strip():
            step.note = "blank: nothing was sent to the kernel, its outputs were left as they were"
        else:
            return str(ycell["source"])
        count = ycell.get("execution_count") if ycell is not None else None
        step.execution = Execution("skipped", _int(count), [])
        return None

    def _prune(self) -> None:
        finished = sorted(
            (r for r in self._runs.values() if r.finished is not None), key=lambda r: r.finished
        )
        expired = time.time() - self._retention
        excess = len(finished) - self._retention_count
        for n, run in enumerate(finished):
            if n < excess or run.finished < expired:
                del self._runs[run.execution_id]


def _int(count: object) -> int | None:
    return int(count) if isinstance(count, (int, float)) else None
