"""Running one cell in its notebook's kernel, with the outputs streamed into the live cell."""

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from nbformat.v4 import output_from_msg
from pycrdt import Array, Map, Text

from . import cells
from .changes import MCP_ORIGIN
from .kernels import Kernels
from .rooms import Rooms

OUTPUT_MESSAGES = {"stream", "display_data", "execute_result", "error"}
# How often a run checks that its kernel is still the one it sent the code to.
LIFE_CHECK = 0.5


@dataclass
class Execution:
    status: str  # "ok", "error", "timeout", "died" or "skipped"
    execution_count: int | None
    outputs: list[dict[str, Any]]
    error: dict[str, Any] | None = None


@dataclass
class CellOutputs:
    """One execution as it goes: its state, and its outputs kept as nbformat dicts and
    mirrored into the live cell (for code run in no cell, `cell_id` None, kept only here).

    The kernel client's output hook is synchronous and the room may be re-created while a
    long cell runs, so messages are queued and a writer task applies them in batches to the
    cell found by id in the notebook's current room (inserts above it do not misdirect them,
    a rename does not lose it). A cell that was deleted, or is no longer a code cell, gets
    nothing more; the outputs are still kept here for the result.
    """

    rooms: Rooms
    room_id: str
    cell_id: str | None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    execution_count: int | None = None
    # When the kernel began this cell's code (monotonic): before that it waits behind other
    # work on the kernel, which is not counted against the timeout.
    started: float | None = None
    finished: bool = False
    _queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    _clear_on_next: bool = False
    _display_ids: dict[str, list[int]] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return "queued" if self.started is None else "running"

    def hook(self, msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["header"]["msg_type"] == "status":
            if content.get("execution_state") == "busy" and self.started is None:
                self.started = time.monotonic()
            elif content.get("execution_state") == "idle":
                self.finished = True
            return
        self._queue.put_nowait(msg)

    async def write(self) -> None:
        """Apply queued messages until `None` is queued."""
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            messages = [m for m in batch if m is not None]
            if messages:
                youtputs = await self._youtputs()
                if youtputs is None:
                    for msg in messages:
                        self._apply(msg, None)
                else:
                    with youtputs.doc.transaction(origin=MCP_ORIGIN):
                        for msg in messages:
                            self._apply(msg, youtputs)
            if None in batch:
                return

    def stop(self) -> None:
        self._queue.put_nowait(None)

    async def mark(self, *, running: bool) -> None:
        """Mark the cell running (outputs cleared) or idle (execution count set)."""
        ycell = await self._ycell()
        if ycell is None:
            return
        with ycell.doc.transaction(origin=MCP_ORIGIN):
            if running:
                # Cleared in place: JupyterLab's cell model keeps observing this Array.
                if isinstance(ycell.get("outputs"), Array):
                    ycell["outputs"].clear()
                else:
                    ycell["outputs"] = Array()
                ycell["execution_count"] = None
                ycell["execution_state"] = "running"
            else:
                ycell["execution_count"] = self.execution_count
                ycell["execution_state"] = "idle"

    async def _ycell(self) -> Map | None:
        if self.cell_id is None:
            return None  # code run in no cell: nothing goes into the notebook
        live = await self.rooms.live(self.room_id)
        if live is None:
            return None  # the file is gone: the result still carries the outputs
        nb = live[1]
        i = cells.position(nb, self.cell_id)
        if i is None:
            return None  # deleted meanwhile
        ycell = nb.ycells[i]
        return ycell if ycell.get("cell_type") == "code" else None

    async def _youtputs(self) -> Array | None:
        ycell = await self._ycell()
        if ycell is None:
            return None
        if not isinstance(ycell.get("outputs"), Array):
            ycell["outputs"] = Array()
        return ycell["outputs"]

    def _apply(self, msg: dict[str, Any], youtputs: Array | None) -> None:
        kind, content = msg["header"]["msg_type"], msg["content"]
        if kind == "execute_input":
            self.execution_count = content.get("execution_count")
        elif kind == "clear_output":
            if content.get("wait"):
                self._clear_on_next = True
            else:
                self._clear(youtputs)
        elif kind == "update_display_data":
            display_id = content.get("transient", {}).get("display_id")
            for i in self._display_ids.get(display_id, []):
                self.outputs[i].update(data=content["data"], metadata=content["metadata"])
                if youtputs is not None and i < len(youtputs):
                    youtputs[i]["data"] = content["data"]
                    youtputs[i]["metadata"] = content["metadata"]
        elif kind in OUTPUT_MESSAGES:
            if self._clear_on_next:
                self._clear(youtputs)
            self._append(output_from_msg(msg), content, youtputs)

    def _append(self, output: dict[str, Any], content: dict, youtputs: Array | None) -> None:
        last = self.outputs[-1] if self.outputs else None
        if (
            output["output_type"] == "stream"
            and last is not None
            and last["output_type"] == "stream"
            and last["name"] == output["name"]
        ):
            last["text"] += output["text"]
            if youtputs is not None and len(youtputs) == len(self.outputs):
                text = youtputs[len(youtputs) - 1]["text"]  # bound first: see pycrdt's Text
                text += output["text"]
            return
        display_id = content.get("transient", {}).get("display_id")
        if display_id:
            self._display_ids.setdefault(display_id, []).append(len(self.outputs))
        self.outputs.append(dict(output))
        if youtputs is not None:
            youtputs.append(_youtput(output))

    def _clear(self, youtputs: Array | None) -> None:
        self._clear_on_next = False
        self.outputs.clear()
        self._display_ids.clear()
        if youtputs is not None:
            youtputs.clear()


def _youtput(output: dict[str, Any]) -> Map:
    value = dict(output)
    if value["output_type"] == "stream":
        value["text"] = Text(value["text"])
    return Map(value)


async def run_cell(
    kernels: Kernels, outputs: CellOutputs, *, code: str, kernel_id: str, timeout: float
) -> Execution:
    """Execute `code` as the cell of `outputs` in kernel `kernel_id`, queued behind any other
    execution there, until the kernel has replied or is gone.

    `timeout` counts from the moment the kernel begins this code. At the deadline the kernel
    is interrupted, only if this code is the one running, and the reply is still awaited: the
    kernel's queue is not released while it may still be working on this code.
    """
    async with kernels.queue(kernel_id):
        client = await kernels.client(kernel_id)
        incarnation = kernels.incarnation(kernel_id)
        await outputs.mark(running=True)
        writer = asyncio.create_task(outputs.write())
        execute = asyncio.create_task(
            client.execute_interactive(code, allow_stdin=False, output_hook=outputs.hook)
        )
        try:
            status, reply = await _supervise(
                execute, kernels, kernel_id, incarnation, outputs, timeout
            )
        finally:
            outputs.stop()
            await writer
            await outputs.mark(running=False)
        if status == "died":
            kernels.forget(kernel_id)
    error = None
    if status == "died":
        error = {
            "ename": "DeadKernel",
            "evalue": "the kernel died or was restarted while running this code; "
            "its variables are lost",
        }
    elif reply["content"]["status"] == "ok":
        status = "ok"  # finished right at its deadline: nothing was interrupted
    else:
        content = reply["content"]
        error = {k: content.get(k) for k in ("ename", "evalue", "traceback")}
        if status == "timeout":
            error.update(
                ename="Timeout",
                evalue=f"the code ran for more than {timeout:g} s and was interrupted",
            )
        else:
            status = "error"
    if status != "died" and outputs.execution_count is None:
        outputs.execution_count = reply["content"].get("execution_count")
    return Execution(status, outputs.execution_count, outputs.outputs, error)


async def _supervise(
    execute: asyncio.Task,
    kernels: Kernels,
    kernel_id: str,
    incarnation: tuple[object, object] | None,
    outputs: CellOutputs,
    timeout: float,
) -> tuple[str, dict[str, Any]]:
    """Wait for the kernel's reply while watching its life and this code's deadline."""
    status = "ok"
    while True:
        done, _ = await asyncio.wait({execute}, timeout=LIFE_CHECK)
        if done:
            if execute.cancelled():
                # Its client's channels were closed under it (Kernels.forget): the kernel
                # was shut down.
                return "died", {}
            return status, execute.result()
        if not await kernels.is_same(kernel_id, incarnation):
            execute.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await execute
            return "died", {}
        started = outputs.started
        if status == "ok" and started is not None and time.monotonic() >= started + timeout:
            status = "timeout"
            if not outputs.finished:  # never interrupt whatever the kernel runs next
                await kernels.interrupt(kernel_id)
