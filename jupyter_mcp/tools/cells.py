"""Tools on one cell: read, update, insert, delete."""

from typing import Annotated, Any

from fastmcp.tools import ToolResult
from pydantic import Field

from .. import cells, reads
from .common import (
    ADDS,
    OVERWRITES,
    READS,
    CellId,
    Index,
    OutputsMode,
    Path,
    Register,
    Source,
    Toolbox,
)


def register(tool: Register, t: Toolbox) -> None:
    rooms = t.rooms

    @tool(READS)
    async def cell_get(
        path: Path, index: Index = None, cell_id: CellId = None, outputs: OutputsMode = "summary"
    ) -> ToolResult:
        """Read one cell: {index, id, cell_type, source, metadata, version, outputs?,
        execution_count?}. Images in its outputs come back as image content; text outputs
        are cut to a budget unless outputs="full"."""
        nb = await rooms.notebook(t.notebook_path(path))
        i = cells.locate(nb, index, cell_id)
        raw = cells.view(nb, i)
        del raw["index"]
        limits = t.limits
        return reads.cell(raw, i, outputs, limits.max_output_chars, limits.max_read_chars)

    @tool(OVERWRITES)
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
        api_path = t.notebook_path(path)
        t.check_source(source)
        if cell_type is not None:
            cells.check_cell_type(cell_type)
        async with rooms.editing(api_path) as nb:
            i = cells.locate(nb, index, cell_id)
            cells.update(nb, i, source, cell_type)
            ycell = nb.ycells[i]
            what = f"cell_update of cell {ycell['id']} (index {i})"
            rooms.edited(api_path, what, ycell["id"], source, ycell["cell_type"])
            return {"index": i, "cell_id": ycell["id"], "updated": True}

    @tool(ADDS)
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
        api_path = t.notebook_path(path)
        t.check_source(source)
        cells.check_cell_type(cell_type)
        async with rooms.editing(api_path) as nb:
            i = cells.insert_position(nb, index, cell_id)
            new_id = cells.insert(nb, i, source, cell_type)
            what = f"cell_insert of cell {new_id} (index {i})"
            rooms.edited(api_path, what, new_id, source, cell_type)
            return {"index": i, "cell_id": new_id, "cell_count": len(nb.ycells)}

    @tool(OVERWRITES)
    async def cell_delete(
        path: Path, index: Index = None, cell_id: CellId = None
    ) -> dict[str, Any]:
        """Delete one cell. Returns {index, cell_id, cell_count} naming the deleted cell."""
        api_path = t.notebook_path(path)
        async with rooms.editing(api_path) as nb:
            i = cells.locate(nb, index, cell_id)
            deleted_id = nb.ycells[i]["id"]
            del nb.ycells[i]
            rooms.edited(
                api_path, f"cell_delete of cell {deleted_id} (index {i})", deleted_id, None
            )
            return {"index": i, "cell_id": deleted_id, "cell_count": len(nb.ycells)}
