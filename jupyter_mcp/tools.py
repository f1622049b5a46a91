"""The MCP tools: validate, call, shape the result. Every tool acts on the live document."""

import asyncio
import posixpath
from collections.abc import Callable
from typing import Annotated, Any

import nbformat
from fastmcp import FastMCP
from jupyter_client.kernelspec import NoSuchKernel
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import ensure_async
from pydantic import Field

from . import cells, paths
from .errors import NotebookError
from .rooms import Rooms

Path = Annotated[
    str,
    Field(description="Notebook path relative to the server root, e.g. 'analysis.ipynb'."),
]
Index = Annotated[int | None, Field(description="0-based cell position (or give cell_id).")]
CellId = Annotated[str | None, Field(description="The cell's id (or give index).")]
Source = Annotated[str, Field(description="The cell's full new source text.")]

INSTRUCTIONS = """\
Tools for the Jupyter notebooks of this server. They act on the same live documents that
people have open in JupyterLab: edits appear to them as they happen, and their edits are
visible here (notebook_get includes unsaved changes). Saving is automatic. Address cells by
index or, more robustly while others edit, by cell_id."""


def create_server(
    serverapp: ServerApp, rooms: Rooms, *, name: str, max_source_chars: int
) -> FastMCP:
    """The FastMCP server with every tool bound to this Jupyter server."""
    mcp = FastMCP(name, instructions=INSTRUCTIONS, mask_error_details=False)
    root_dir: Callable[[], str] = lambda: serverapp.contents_manager.root_dir  # noqa: E731

    def notebook_path(path: str, *, must_exist: bool = True) -> str:
        return paths.resolve_notebook(root_dir(), path, must_exist=must_exist)

    def check_source(source: str) -> None:
        if len(source) > max_source_chars:
            raise NotebookError(
                f"The source has {len(source)} characters; the limit is {max_source_chars}. "
                "Split it over several cells."
            )

    @mcp.tool
    async def notebook_list() -> list[dict[str, str]]:
        """List every notebook (.ipynb) under the server root, hidden folders excluded.

        Returns [{path, name}], sorted by path. Opens no notebook."""
        found = await asyncio.to_thread(paths.list_notebooks, root_dir())
        return [{"path": p, "name": posixpath.basename(p)} for p in found]

    @mcp.tool
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

    @mcp.tool
    async def notebook_get(path: Path) -> dict[str, Any]:
        """Read a whole notebook as nbformat JSON (cells, metadata, nbformat, nbformat_minor),
        exactly as it is live, including edits not yet saved."""
        return cells.read(await rooms.notebook(notebook_path(path)))

    @mcp.tool
    async def notebook_watch(
        path: Path,
        timeout: Annotated[float, Field(description="Seconds to wait, 1 to 300.")] = 30,
    ) -> dict[str, Any]:
        """Wait until someone changes the notebook (cells or metadata), or until the timeout.

        Returns {changed: true, cell_count} on the first change after the call, otherwise
        {changed: false}. Use it to react to a person's edits instead of polling."""
        nb = await rooms.notebook(notebook_path(path))
        return await cells.watch(nb, min(max(float(timeout), 1.0), 300.0))

    @mcp.tool
    async def notebook_list_users(path: Path) -> list[dict[str, Any]]:
        """List who is on the notebook now: [{id, name, display_name, ..., is_mcp}] from the
        collaboration room's awareness. Returns [] when nobody has the notebook open."""
        return rooms.users(notebook_path(path))

    @mcp.tool
    async def cell_get(path: Path, index: Index = None, cell_id: CellId = None) -> dict[str, Any]:
        """Read one cell: {index, id, cell_type, source, metadata, outputs?, execution_count?}."""
        nb = await rooms.notebook(notebook_path(path))
        return cells.view(nb, cells.locate(nb, index, cell_id))

    @mcp.tool
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
            return {"index": i, "cell_id": nb.ycells[i]["id"], "updated": True}

    @mcp.tool
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
            return {"index": i, "cell_id": new_id, "cell_count": len(nb.ycells)}

    @mcp.tool
    async def cell_delete(
        path: Path, index: Index = None, cell_id: CellId = None
    ) -> dict[str, Any]:
        """Delete one cell. Returns {index, cell_id, cell_count} naming the deleted cell."""
        async with rooms.editing(notebook_path(path)) as nb:
            i = cells.locate(nb, index, cell_id)
            deleted_id = nb.ycells[i]["id"]
            del nb.ycells[i]
            return {"index": i, "cell_id": deleted_id, "cell_count": len(nb.ycells)}

    @mcp.tool
    async def room_list() -> list[dict[str, Any]]:
        """List the open collaboration rooms: [{room_id, path, file_id, users, user_count,
        has_kernel}], one per open document. user_count counts connected JupyterLab clients."""
        return await rooms.describe()

    return mcp


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
