"""Tools on whole notebooks: list, create, read, watch, who is there."""

import asyncio
import json
import os
import posixpath
from typing import Annotated, Any, Literal

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import ensure_async
from pydantic import BaseModel, Field

from .. import cells, paths, reads
from ..errors import NotebookError
from .common import ADDS, OVERWRITES, READS, OutputsMode, Path, Register, Toolbox


def register(tool: Register, t: Toolbox) -> None:
    contents = t.serverapp.contents_manager

    @tool(READS)
    async def notebook_list() -> list[dict[str, str]]:
        """List every notebook (.ipynb) under the server root, hidden folders excluded.

        Returns [{path, name}], sorted by path. Opens no notebook."""
        found = await asyncio.to_thread(paths.list_notebooks, t.root_dir())
        return [{"path": p, "name": posixpath.basename(p)} for p in found]

    @tool(ADDS)
    async def notebook_create(
        path: Path,
        cells: Annotated[
            list[NewCell] | None,
            Field(description="The notebook's cells, in order (default: one empty code cell)."),
        ] = None,
    ) -> dict[str, Any]:
        """Create a new notebook with the server's default kernel, holding `cells` (or one
        empty code cell, as JupyterLab creates it). Refuses a path that already exists.

        Returns {path, name, cells: [{index, cell_id, cell_type}]}: the live document and
        the file hold exactly these cells."""
        api_path = t.notebook_path(path, must_exist=False)
        new_cells = cells if cells is not None else [NewCell(source="")]
        for cell in new_cells:
            t.check_source(cell.source)
        if await ensure_async(contents.exists(api_path)):
            raise NotebookError(f"'{api_path}' already exists; choose another path.")
        parent = posixpath.dirname(api_path)
        if parent and not await ensure_async(contents.dir_exists(parent)):
            raise NotebookError(f"Folder '{parent}' does not exist; create the notebook elsewhere.")
        content = nbformat.v4.new_notebook(metadata=await _kernel_metadata(t.serverapp))
        make = {
            "code": nbformat.v4.new_code_cell,
            "markdown": nbformat.v4.new_markdown_cell,
            "raw": nbformat.v4.new_raw_cell,
        }
        content.cells = [make[cell.cell_type](cell.source) for cell in new_cells]
        model = {"type": "notebook", "format": "json", "content": content}
        await ensure_async(contents.save(model, api_path))
        created = [
            {"index": i, "cell_id": cell.id, "cell_type": cell.cell_type}
            for i, cell in enumerate(content.cells)
        ]
        return {"path": api_path, "name": posixpath.basename(api_path), "cells": created}

    @tool(READS)
    async def notebook_get(
        path: Path,
        start: Annotated[int, Field(ge=0, description="First cell to return (0-based).")] = 0,
        limit: Annotated[
            int | None, Field(ge=1, description="Most cells to return (default: all).")
        ] = None,
        outputs: OutputsMode = "summary",
    ) -> dict[str, Any]:
        """Read a notebook as it is live, including edits not yet saved: {cells, metadata,
        nbformat, nbformat_minor, cell_count, start, next_start?}.

        Every cell has its id, cell_type, source, execution_count and version (pass it as
        expected_version to edit only if nobody changed the cell since). By default outputs
        are summarised: text cut per cell, images and other binary data named with their
        type and size (cell_get returns images as image content). outputs="full" returns
        cells exactly as nbformat has them. A long notebook comes in pages: next_start says
        where the next page starts."""
        api_path = t.notebook_path(path)
        nb = await t.rooms.notebook(api_path)
        read = cells.read(nb) if limit is None else cells.read(nb, start, start + limit)
        page = reads.notebook(read, start, limit, outputs, t.limits.max_read_chars)
        return {**page, "cursor": t.rooms.cursor(api_path)}

    @tool(READS)
    async def notebook_watch(
        path: Path,
        timeout: Annotated[
            float, Field(ge=0, le=300, description="Seconds to wait (at least 1 is waited).")
        ] = 30,
    ) -> dict[str, Any]:
        """Wait until someone changes the notebook (cells or metadata), or until the timeout.

        Returns {changed: true, cell_count, changes, cursor} on the first change after the
        call (changes as notebook_changes gives them), otherwise {changed: false, cursor}.
        Use it to react to a person's edits instead of polling."""
        api_path = t.notebook_path(path)
        room_id = t.rooms.room_id(api_path)
        async with t.rooms.in_use(room_id):
            await t.rooms.notebook(api_path)
            since = t.rooms.cursor(api_path)
            seconds = max(float(timeout), 1.0)
            woke = await cells.watch(lambda: t.rooms.current(room_id), seconds)
            await t.rooms.current(room_id)  # the room now, if it was opened again meanwhile
            try:
                changes = t.rooms.changes(api_path, since)
            except NotebookError:  # re-created while watched: its whole feed is new
                changes = t.rooms.changes(api_path, None)
            if woke["changed"]:
                woke["changes"] = changes
            return {**woke, "cursor": t.rooms.cursor(api_path)}

    @tool(READS)
    async def notebook_changes(
        path: Path,
        since: Annotated[
            str, Field(description="The cursor of an earlier read, watch or notebook_changes.")
        ],
    ) -> dict[str, Any]:
        """What changed in the notebook since `since`, and who did it: {cursor, changes:
        [{kind, cell_id, index, by}]}. kind is added, deleted, moved, source, outputs, type,
        metadata or notebook_metadata; by names the person ({name, display_name, is_mcp:
        false}) or this server's tools (is_mcp: true), or is null when unknown. Pass the
        returned cursor next time."""
        api_path = t.notebook_path(path)
        await t.rooms.notebook(api_path)
        changes = t.rooms.changes(api_path, since)
        return {"cursor": t.rooms.cursor(api_path), "changes": changes}

    @tool(OVERWRITES)
    async def notebook_clear_outputs(path: Path) -> dict[str, Any]:
        """Clear every code cell's outputs and execution count, as JupyterLab's "Clear All
        Outputs" does. Returns {path, cleared: number of cells that had any}."""
        api_path = t.notebook_path(path)
        async with t.rooms.editing(api_path) as nb:  # one transaction for every cell
            cleared = sum(cells.clear_outputs(nb, i) for i in range(len(nb.ycells)))
        return {"path": api_path, "cleared": cleared}

    @tool(READS)
    async def notebook_search(
        query: Annotated[str, Field(min_length=1, description="Text to find in cell sources.")],
        path: Annotated[
            str | None, Field(description="Search only this notebook (default: every one).")
        ] = None,
        regex: Annotated[
            bool, Field(description="query is a Python regular expression (default: literal).")
        ] = False,
    ) -> dict[str, Any]:
        """Find cells whose source matches `query`, line by line (case-sensitive): {matches:
        [{path, index, cell_id, cell_type, lines: [{line, text}]}], truncated?}. Live
        documents are searched as they are now, other notebooks as saved."""
        match = cells.matcher(query, regex)
        if path is not None:
            targets = [t.notebook_path(path)]
        else:
            targets = await asyncio.to_thread(paths.list_notebooks, t.root_dir())
        matches: list[dict[str, Any]] = []
        for api_path in targets:
            live = t.rooms.open_document(api_path)
            if live is not None:
                found = cells.search(cells.read(live)["cells"], match)
            else:
                saved = await asyncio.to_thread(_saved_cells, t.root_dir(), api_path)
                if saved is None and path is not None:
                    raise NotebookError(f"'{api_path}' cannot be read as a notebook.")
                found = cells.search(saved or [], match)
            matches += [{"path": api_path, **cell} for cell in found]
            if len(matches) >= MOST_SEARCH_MATCHES:
                return {"matches": matches[:MOST_SEARCH_MATCHES], "truncated": True}
        return {"matches": matches}

    @tool(READS)
    async def notebook_list_users(path: Path) -> list[dict[str, Any]]:
        """List who is on the notebook now: [{id, name, display_name, ..., is_mcp}] from the
        collaboration room's awareness. Returns [] when nobody has the notebook open."""
        return t.rooms.users(t.notebook_path(path))


MOST_SEARCH_MATCHES = 200  # cells in one search result


def _saved_cells(root_dir: str, api_path: str) -> list[dict[str, Any]] | None:
    """The cells of a notebook file, or None when it is not a readable notebook."""
    try:
        with open(os.path.join(root_dir, api_path), encoding="utf-8") as file:
            return json.load(file).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None


class NewCell(BaseModel):
    source: str = Field(description="The cell's source text.")
    cell_type: Literal["code", "markdown", "raw"] = "code"


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
