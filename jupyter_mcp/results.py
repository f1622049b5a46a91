"""Execution results as the model sees them: nbformat outputs with text cut to a budget,
images as MCP image content, ANSI colour codes removed."""

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

from fastmcp.tools import ToolResult
from fastmcp.utilities.types import Image
from mcp.types import TextContent

from .runs import FAILURES, Run, Step

IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# Where the rest of a text cut in a result is.
IN_THE_CELL = "the cell in the notebook has the full output"
NOWHERE = "it was kept nowhere: print less, or write it to a file and read the part you need"


class Budget:
    """Characters of text left for one result."""

    def __init__(self, chars: int, rest: str = IN_THE_CELL) -> None:
        self.left = chars
        self.rest = rest

    def cut(self, text: str) -> str:
        if len(text) <= self.left:
            self.left -= len(text)
            return text
        kept, self.left = text[: self.left], 0
        return (
            f"{kept}\n[... {len(text) - len(kept):,} of {len(text):,} characters cut here; "
            f"{self.rest}]"
        )


def shape_outputs(
    outputs: list[dict[str, Any]], budget: Budget, images: list[Image]
) -> list[dict[str, Any]]:
    shaped = []
    for output in outputs:
        kind = output["output_type"]
        if kind == "stream":
            shaped.append({**output, "text": budget.cut(_ANSI.sub("", output["text"]))})
        elif kind == "error":
            traceback = _ANSI.sub("", "\n".join(output.get("traceback", [])))
            shaped.append({**output, "traceback": budget.cut(traceback).split("\n")})
        else:
            data = {}
            for mime, value in output.get("data", {}).items():
                if mime in IMAGE_TYPES:
                    images.append(Image(data=base64.b64decode(value), format=IMAGE_TYPES[mime]))
                    data[mime] = f"<{mime} returned as image content #{len(images)}>"
                elif isinstance(value, str):
                    data[mime] = budget.cut(value)
                else:
                    data[mime] = value
            shaped.append({**output, "data": data})
    return shaped


def run_result(run: Run, indices: dict[str, int], max_chars: int) -> ToolResult:
    """What a blocking call of the run returns, and execution_wait once it has ended."""
    budget, images = _budget(run, max_chars), []
    if run.kind != "notebook":
        result = {"execution_id": run.execution_id, **_step(run.steps[0], indices, budget, images)}
    else:
        steps = [s for s in run.steps if s.execution is not None]
        result = {
            "execution_id": run.execution_id,
            "status": run.status,
            "cells": [_step(s, indices, budget, images) for s in steps],
        }
        failed = next((c for c in result["cells"] if c["status"] in FAILURES), None)
        if failed is not None:
            result["error"] = {"index": failed["index"], **failed.pop("error", {})}
    return _tool_result(result, images)


def run_progress(run: Run, indices: dict[str, int], max_chars: int) -> ToolResult:
    """A run that has not ended: where it is, and the outputs so far."""
    budget, images = _budget(run, max_chars), []
    result: dict[str, Any] = {
        "execution_id": run.execution_id,
        "status": run.status,
        "elapsed": round(run.elapsed, 3),
    }
    step = run.current
    if run.kind == "notebook":
        done = [s for s in run.steps if s.execution is not None]
        result["cells"] = [_step(s, indices, budget, images) for s in done]
    if step is not None:
        if step.cell_id is not None:
            result.update(index=indices.get(step.cell_id), cell_id=step.cell_id)
        so_far = list(step.outputs.outputs) if step.outputs is not None else []
        result["outputs_so_far"] = shape_outputs(so_far, budget, images)
    return _tool_result(result, images)


def run_started(run: Run, indices: dict[str, int]) -> dict[str, Any]:
    """The answer of a call with wait=false."""
    result: dict[str, Any] = {"execution_id": run.execution_id, "status": run.status}
    cells = [{"index": indices.get(s.cell_id, s.index), "cell_id": s.cell_id} for s in run.steps]
    if run.kind == "cell":
        result.update(cells[0])
    elif run.kind == "notebook":
        result["cells"] = cells
    return result


def run_row(run: Run, indices: dict[str, int]) -> dict[str, Any]:
    """One run in execution_list."""
    row: dict[str, Any] = {
        "execution_id": run.execution_id,
        "kind": run.kind,
        "path": run.path,
        "status": run.status,
        "created": datetime.fromtimestamp(run.created, UTC).isoformat(timespec="seconds"),
        "elapsed": round(run.elapsed, 3),
        "cells": [
            {
                "index": indices.get(s.cell_id),
                "cell_id": s.cell_id,
                # A step still pending in a run that ended was never reached.
                "status": "not run" if run.done.is_set() and s.status == "pending" else s.status,
            }
            for s in run.steps
            if s.cell_id is not None  # code run in no cell has none
        ],
    }
    if run.failure is not None:
        row["error"] = run.failure
    return row


def _step(step: Step, indices: dict[str, int], budget: Budget, images: list[Image]) -> dict:
    execution = step.execution
    assert execution is not None
    shaped: dict[str, Any] = {}
    if step.cell_id is not None:
        # index is None when the cell is no longer in the notebook.
        shaped.update(index=indices.get(step.cell_id), cell_id=step.cell_id)
    shaped.update(
        status=execution.status,
        execution_count=execution.execution_count,
        outputs=shape_outputs(execution.outputs, budget, images),
    )
    if step.note is not None:
        shaped["note"] = step.note
    if execution.error is not None:
        error = dict(execution.error)
        if error.get("traceback"):
            error["traceback"] = _ANSI.sub("", "\n".join(error["traceback"]))[-4000:]
        shaped["error"] = error
    return shaped


def _budget(run: Run, max_chars: int) -> Budget:
    return Budget(max_chars, NOWHERE if run.kind == "code" else IN_THE_CELL)


def _tool_result(result: dict[str, Any], images: list[Image]) -> ToolResult:
    content: list[Any] = [TextContent(type="text", text=json.dumps(result, ensure_ascii=False))]
    content += [image.to_image_content() for image in images]
    return ToolResult(content=content, structured_content=result)
