"""How the figures hold as the work grows: the same calls on a 10,000-cell notebook as on a
100-cell one, the memory a 10,000-cell room takes, notebook_list over 1,000 notebooks."""

import json
from collections.abc import Awaitable, Callable

import nbformat

from jupyter_mcp.client import LeanClient
from tests.conftest import write_notebook
from tests.servers import Server

from .measure import Figure, Row, p50, timed
from .server import rss_mb

SMALL_CELLS, BIG_CELLS = 100, 10_000
GROWTH_FACTOR = 1.5  # a call on the big notebook may take this many times the small one's
LIST_TARGET_MS = 20.0
FOLDERS, NOTEBOOKS_PER_FOLDER = 100, 10


def size_actions(
    mcp: LeanClient, path: str, ids: list[str]
) -> list[tuple[str, Callable[[int], Awaitable[object]]]]:
    def spread(i: int) -> int:  # cells all over the notebook, not only its first ones
        return i * 7919 % len(ids)

    async def insert_delete(i: int) -> None:
        new = await mcp.call("cell_insert", path=path, index=0, source=f"tmp {i}")
        await mcp.call("cell_delete", path=path, cell_id=new["cell_id"])

    # Reads first: the edits schedule autosaves of the whole notebook, a second later.
    return [
        ("cell_get", lambda i: mcp.call("cell_get", path=path, index=spread(i))),
        ("cell_get by cell_id", lambda i: mcp.call("cell_get", path=path, cell_id=ids[spread(i)])),
        ("notebook_get limit=20", lambda i: mcp.call("notebook_get", path=path, limit=20)),
        ("cell_update", lambda i: mcp.call("cell_update", path=path, index=spread(i),
                                           source=f"x = {i}")),
        ("cell_insert at 0 + cell_delete (two calls)", insert_delete),
    ]  # fmt: skip


async def one_size(
    server: Server, count: int, iterations: int
) -> tuple[str, Row, Figure, dict[str, Row]]:
    """On a new notebook of `count` cells: its path, the call that opens its room, the
    server's memory then, and the rows of size_actions by name."""
    path = write_notebook(server.root, [f"x{i} = {i}" for i in range(count)],
                          f"cells-{count}.ipynb")  # fmt: skip
    # From the file: a read through MCP would open the room before it is measured.
    ids = [cell["id"] for cell in json.loads((server.root / path).read_text())["cells"]]
    async with LeanClient(server.mcp_url, server.headers) as mcp:
        before = rss_mb(server.process.pid)
        opening = await timed(1, lambda i: mcp.call("cell_get", path=path, index=0))
        after = rss_mb(server.process.pid)
        for _ in range(5):
            await mcp.call("cell_get", path=path, index=count - 1)
        rows = {
            name: Row(f"{count:,} cells: {name}", await timed(iterations, action))
            for name, action in size_actions(mcp, path, ids)
        }
    memory = Figure(f"server RSS with the {count:,}-cell room open", after, "MB",
                    note=f"{before:.1f} MB before it opened: {after - before:+.1f} MB")  # fmt: skip
    return path, Row(f"{count:,} cells: first cell_get (opens the room)", opening), memory, rows


async def size_rows(server: Server, iterations: int) -> tuple[list[Row], list[Figure], str]:
    """The rows and memory figures of a small and a big notebook, and the big one's path."""
    _, small_opening, small_memory, small = await one_size(server, SMALL_CELLS, iterations)
    big, big_opening, big_memory, rows = await one_size(server, BIG_CELLS, iterations)
    for name, row in rows.items():
        row.target = GROWTH_FACTOR * p50(small[name])
        row.basis = f"{GROWTH_FACTOR:g}x {SMALL_CELLS} cells"
    scaled = [small_opening, *small.values(), big_opening, *rows.values()]
    return scaled, [small_memory, big_memory], big


async def workspace_rows(server: Server, iterations: int) -> list[Row]:
    """notebook_list of the whole root, with a workspace of 1,000 notebooks added to it."""
    notebook = nbformat.writes(nbformat.v4.new_notebook())
    for f in range(FOLDERS):
        folder = server.root / "workspace" / f"project-{f:03d}"
        folder.mkdir(parents=True)
        for n in range(NOTEBOOKS_PER_FOLDER):
            (folder / f"analysis-{n}.ipynb").write_text(notebook)
    async with LeanClient(server.mcp_url, server.headers) as mcp:
        listed = await mcp.call("notebook_list")
        in_workspace = [entry for entry in listed if entry["path"].startswith("workspace/")]
        assert len(in_workspace) == FOLDERS * NOTEBOOKS_PER_FOLDER, len(in_workspace)
        samples = await timed(iterations, lambda i: mcp.call("notebook_list"))
    name = f"notebook_list, {len(listed):,} notebooks in {FOLDERS}+ folders"
    return [Row(name, samples, target=LIST_TARGET_MS)]
