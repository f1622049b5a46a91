"""What every group of tools shares: the parameter types, the limits, the toolbox."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from jupyter_server.serverapp import ServerApp
from mcp.types import ToolAnnotations
from pydantic import Field

from .. import paths
from ..errors import NotebookError
from ..kernels import Kernels
from ..rooms import Rooms
from ..runs import Runs

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
CellType = Annotated[Literal["code", "markdown", "raw"], Field(description="The cell's type.")]
ExpectedVersion = Annotated[
    str | None,
    Field(description="The cell's version from your last read: the edit is refused, with "
          "nothing changed, if the cell has changed since (default: no check)."),
]  # fmt: skip
OutputsMode = Annotated[
    Literal["summary", "full", "none"],
    Field(description="summary (default): text cut to a budget, images and other binary data "
          "named with their type and size; full: outputs exactly as saved; none: left out."),
]  # fmt: skip
Wait = Annotated[
    bool,
    Field(description="true (default): return the result when the run ends. false: return "
          "{execution_id, status} at once and collect the result with execution_wait."),
]  # fmt: skip

# Hints MCP clients use to decide which calls to approve without asking the person.
READS = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)
ADDS = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
OVERWRITES = ToolAnnotations(readOnlyHint=False, destructiveHint=True, openWorldHint=False)
RUNS_CODE = ToolAnnotations(readOnlyHint=False, destructiveHint=True, openWorldHint=True)
STOPS = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
)

# tool(annotations, output_schema=None) registers the decorated function as a tool, unless it
# is disabled; tools that build their own result (with image content) declare its schema.
Register = Callable[..., Callable[[Callable[..., Any]], Callable[..., Any]]]


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


_INT_OR_NULL = {"type": ["integer", "null"]}
_OUTPUTS = {"type": "array", "items": {"type": "object"}}
_RUN_CELL = _object(
    ["cell_id"],
    index=_INT_OR_NULL,
    cell_id={"type": "string"},
    status={"type": "string"},
    execution_count=_INT_OR_NULL,
    outputs=_OUTPUTS,
    error={"type": "object"},
    note={"type": "string"},
)
# What cell_execute, notebook_execute and execution_wait return: a run's result, the answer of
# wait=false, or (execution_wait) a run still going.
RUN_SCHEMA = _object(
    ["execution_id", "status"],
    execution_id={"type": "string"},
    status={"type": "string", "description": "ok, error, timeout, died, skipped, queued, running"},
    index=_INT_OR_NULL,
    cell_id={"type": "string"},
    execution_count=_INT_OR_NULL,
    outputs=_OUTPUTS,
    outputs_so_far=_OUTPUTS,
    elapsed={"type": "number"},
    cells={"type": "array", "items": _RUN_CELL},
    error={"type": "object"},
    note={"type": "string"},
    cell_count={"type": "integer"},
)
CELL_SCHEMA = _object(
    ["index", "id", "cell_type", "source", "version", "cursor"],
    index={"type": "integer"},
    id={"type": "string"},
    cell_type={"type": "string", "enum": ["code", "markdown", "raw"]},
    source={"type": "string"},
    metadata={"type": "object"},
    version={"type": "string"},
    outputs=_OUTPUTS,
    output_count={"type": "integer"},
    execution_count=_INT_OR_NULL,
    cursor={"type": "string"},
    note={"type": "string"},
)
# cell_insert: the new cell, or with execute=true the result of running it.
INSERT_SCHEMA = _object(
    ["cell_id", "cell_count"],
    **{**RUN_SCHEMA["properties"], "version": {"type": "string"}},
)


@dataclass(frozen=True)
class Limits:
    max_source_chars: int
    max_output_chars: int
    max_read_chars: int
    execution_timeout: float
    max_execution_timeout: float


@dataclass(frozen=True)
class Toolbox:
    """The server's parts that the tools act through, and the checks they share."""

    serverapp: ServerApp
    rooms: Rooms
    kernels: Kernels
    runs: Runs
    limits: Limits

    def root_dir(self) -> str:
        return self.serverapp.contents_manager.root_dir

    def notebook_path(self, path: str, *, must_exist: bool = True) -> str:
        return paths.resolve_notebook(self.root_dir(), path, must_exist=must_exist)

    def check_source(self, source: str) -> None:
        if len(source) > self.limits.max_source_chars:
            raise NotebookError(
                f"The source has {len(source)} characters; the limit is "
                f"{self.limits.max_source_chars}. Split it over several cells."
            )

    def execution_timeout(self, timeout: float | None) -> float:
        if timeout is None:
            return self.limits.execution_timeout
        if not math.isfinite(timeout) or timeout <= 0:
            raise NotebookError("timeout must be a positive, finite number of seconds.")
        return min(float(timeout), self.limits.max_execution_timeout)
