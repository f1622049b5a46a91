"""Tools on one cell: read, update, insert, delete."""

from typing import Annotated, Any

from fastmcp import Context
from fastmcp.tools import ToolResult
from pydantic import Field

from .. import cells, reads
from ..errors import NotebookError
from .common import (
    CELL_SCHEMA,
    INSERT_SCHEMA,
    OVERWRITES,
    READS,
    RUNS_CODE,
    CellId,
    CellType,
    ExpectedVersion,
    Index,
    OutputsMode,
    Path,
    Register,
    Source,
    Timeout,
    Toolbox,
)
from .execution import launch


def register(tool: Register, t: Toolbox) -> None:
    rooms = t.rooms

    @tool(READS, CELL_SCHEMA)
    async def cell_get(
        path: Path, index: Index = None, cell_id: CellId = None, outputs: OutputsMode = "summary"
    ) -> ToolResult:
        """Read one cell: {index, id, cell_type, source, metadata, version, outputs?,
        execution_count?}. Images in its outputs come back as image content; text outputs
        are cut to a budget unless outputs="full"."""
        api_path = t.notebook_path(path)
        nb = await rooms.notebook(api_path)
        i = cells.locate(nb, index, cell_id)
        raw = cells.view(nb, i)
        del raw["index"]
        limits = t.limits
        cursor = rooms.cursor(api_path)
        return reads.cell(raw, i, outputs, limits.max_output_chars, limits.max_read_chars, cursor)

    @tool(OVERWRITES)
    async def cell_update(
        path: Path,
        source: Source,
        index: Index = None,
        cell_id: CellId = None,
        cell_type: CellType | None = None,
        expected_version: ExpectedVersion = None,
    ) -> dict[str, Any]:
        """Replace a cell's source (and optionally its type).

        The edit is applied as a minimal text change inside the existing cell: its id, its
        position, its outputs and other people's cursors are kept. Returns {index, cell_id,
        version}."""
        api_path = t.notebook_path(path)
        t.check_source(source)
        async with rooms.editing(api_path) as nb:
            i = cells.locate(nb, index, cell_id)
            cells.check_version(nb, i, expected_version)
            cells.update(nb, i, source, cell_type)
            ycell = nb.ycells[i]
            what = f"cell_update of cell {ycell['id']} (index {i})"
            rooms.edited(api_path, what, ycell["id"], source, ycell["cell_type"])
            version = cells.version(nb, i)
            return {"index": i, "cell_id": ycell["id"], "updated": True, "version": version}

    @tool(OVERWRITES)
    async def cell_edit(
        path: Path,
        old: Annotated[str, Field(description="The exact text to replace (literal, not a regex).")],
        new: Annotated[str, Field(description="The text to put in its place.")],
        index: Index = None,
        cell_id: CellId = None,
        replace_all: Annotated[
            bool, Field(description="Replace every occurrence (default: old must occur once).")
        ] = False,
        expected_version: ExpectedVersion = None,
    ) -> dict[str, Any]:
        """Replace part of a cell's source: the literal text `old` by `new`, as a minimal text
        edit. Refused, with nothing changed, unless `old` occurs exactly once (or
        replace_all). Returns {index, cell_id, replacements, version}."""
        api_path = t.notebook_path(path)
        t.check_source(new)
        async with rooms.editing(api_path) as nb:
            i = cells.locate(nb, index, cell_id)
            cells.check_version(nb, i, expected_version)
            count = cells.replace(nb, i, old, new, replace_all)
            ycell = nb.ycells[i]
            source = str(ycell["source"])
            t.check_source(source)
            what = f"cell_edit of cell {ycell['id']} (index {i})"
            rooms.edited(api_path, what, ycell["id"], source, ycell["cell_type"])
            return {"index": i, "cell_id": ycell["id"], "replacements": count,
                    "version": cells.version(nb, i)}  # fmt: skip

    # With execute=true it runs the cell: approved like cell_execute.
    @tool(RUNS_CODE, INSERT_SCHEMA)
    async def cell_insert(
        ctx: Context,
        path: Path,
        source: Source,
        index: Annotated[
            int | None,
            Field(ge=-1, description="Position of the new cell: 0..len, or -1 to append."),
        ] = None,
        cell_type: CellType = "code",
        cell_id: Annotated[
            str | None, Field(description="Insert before the cell with this id (instead of index).")
        ] = None,
        execute: Annotated[
            bool, Field(description="Run the new code cell at once, as cell_execute does.")
        ] = False,
        timeout: Timeout = None,
    ) -> ToolResult:
        """Insert a new cell. Returns {index, cell_id, cell_count, version} of the new cell;
        with execute=true, the cell_execute result of running it, with cell_count."""
        api_path = t.notebook_path(path)
        t.check_source(source)
        if execute and cell_type != "code":
            raise NotebookError("Only code cells run: insert it with execute=false.")
        seconds = t.execution_timeout(timeout) if execute else 0.0
        async with rooms.editing(api_path) as nb:
            i = cells.insert_position(nb, index, cell_id)
            new_id = cells.insert(nb, i, source, cell_type)
            what = f"cell_insert of cell {new_id} (index {i})"
            rooms.edited(api_path, what, new_id, source, cell_type)
            inserted = {"index": i, "cell_id": new_id, "cell_count": len(nb.ycells),
                        "version": cells.version(nb, i)}  # fmt: skip
        if not execute:
            return ToolResult(structured_content=inserted)
        ran = await launch(t, ctx, "cell", api_path, nb, [(i, new_id)], seconds, True)
        assert isinstance(ran.structured_content, dict)
        ran.structured_content["cell_count"] = inserted["cell_count"]
        return ran

    @tool(OVERWRITES)
    async def cell_delete(
        path: Path, index: Index = None, cell_id: CellId = None,
        expected_version: ExpectedVersion = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Delete one cell. Returns {index, cell_id, cell_count} naming the deleted cell."""
        api_path = t.notebook_path(path)
        async with rooms.editing(api_path) as nb:
            i = cells.locate(nb, index, cell_id)
            cells.check_version(nb, i, expected_version)
            deleted_id = nb.ycells[i]["id"]
            del nb.ycells[i]
            rooms.edited(
                api_path, f"cell_delete of cell {deleted_id} (index {i})", deleted_id, None
            )
            return {"index": i, "cell_id": deleted_id, "cell_count": len(nb.ycells)}

    @tool(OVERWRITES)
    async def cell_move(
        path: Path,
        to: Annotated[int, Field(ge=0, description="The cell's new position, 0..len-1.")],
        index: Index = None,
        cell_id: CellId = None,
        expected_version: ExpectedVersion = None,
    ) -> dict[str, Any]:
        """Move a cell to position `to`, keeping its id, source, outputs and metadata.
        Returns {from, index, cell_id, version}."""
        api_path = t.notebook_path(path)
        async with rooms.editing(api_path) as nb:
            i = cells.locate(nb, index, cell_id)
            cells.check_version(nb, i, expected_version)
            cells.move(nb, i, to)
            ycell = nb.ycells[to]
            what = f"cell_move of cell {ycell['id']} (index {i} to {to})"
            rooms.edited(api_path, what, ycell["id"], str(ycell["source"]), ycell["cell_type"])
            version = cells.version(nb, to)
            return {"from": i, "index": to, "cell_id": ycell["id"], "version": version}

    @tool(OVERWRITES)
    async def cell_clear_outputs(
        path: Path, index: Index = None, cell_id: CellId = None
    ) -> dict[str, Any]:
        """Clear a code cell's outputs and execution count, as JupyterLab's "Clear Outputs"
        does. Returns {index, cell_id, cleared, version}."""
        async with rooms.editing(t.notebook_path(path)) as nb:
            i = cells.locate(nb, index, cell_id)
            cleared = cells.clear_outputs(nb, i)
            return {"index": i, "cell_id": nb.ycells[i]["id"], "cleared": cleared,
                    "version": cells.version(nb, i)}  # fmt: skip
