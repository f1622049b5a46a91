"""Tools on whole notebooks: list, create, read, watch, who is there."""

import asyncio
import posixpath
from typing import Annotated, Any

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import ensure_async
from pydantic import Field

from .. import cells, paths, reads
from ..errors import NotebookError
from .common import ADDS, READS, OutputsMode, Path, Register, Toolbox


def register(tool: Register, t: Toolbox) -> None:
    contents = t.serverapp.contents_manager

    @tool(READS)
    async def notebook_list() -> list[dict[str, str]]:
        """List every notebook (.ipynb) under the server root, hidden folders excluded.

        Returns [{path, name}], sorted by path. Opens no notebook."""
        found = await asyncio.to_thread(paths.list_notebooks, t.root_dir())
        return [{"path": p, "name": posixpath.basename(p)} for p in found]

    @tool(ADDS)
    async def notebook_create(path: Path) -> dict[str, str]:
        """Create a new, empty notebook with the server's default kernel.

        Refuses a path that already exists. Returns {path, name}."""
        api_path = t.notebook_path(path, must_exist=False)
        if await ensure_async(contents.exists(api_path)):
            raise NotebookError(f"'{api_path}' already exists; choose another path.")
        parent = posixpath.dirname(api_path)
        if parent and not await ensure_async(contents.dir_exists(parent)):
            raise NotebookError(f"Folder '{parent}' does not exist; create the notebook elsewhere.")
        content = nbformat.v4.new_notebook(metadata=await _kernel_metadata(t.serverapp))
        model = {"type": "notebook", "format": "json", "content": content}
        await ensure_async(contents.save(model, api_path))
        return {"path": api_path, "name": posixpath.basename(api_path)}

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
        nb = await t.rooms.notebook(t.notebook_path(path))
        return reads.notebook(cells.read(nb), start, limit, outputs, t.limits.max_read_chars)

    @tool(READS)
    async def notebook_watch(
        path: Path,
        timeout: Annotated[float, Field(description="Seconds to wait, 1 to 300.")] = 30,
    ) -> dict[str, Any]:
        """Wait until someone changes the notebook (cells or metadata), or until the timeout.

        Returns {changed: true, cell_count} on the first change after the call, otherwise
        {changed: false}. Use it to react to a person's edits instead of polling."""
        api_path = t.notebook_path(path)
        room_id = t.rooms.room_id(api_path)
        async with t.rooms.in_use(room_id):
            await t.rooms.notebook(api_path)
            seconds = min(max(float(timeout), 1.0), 300.0)
            return await cells.watch(lambda: t.rooms.current(room_id), seconds)

    @tool(READS)
    async def notebook_list_users(path: Path) -> list[dict[str, Any]]:
        """List who is on the notebook now: [{id, name, display_name, ..., is_mcp}] from the
        collaboration room's awareness. Returns [] when nobody has the notebook open."""
        return t.rooms.users(t.notebook_path(path))


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
