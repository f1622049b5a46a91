"""The change feed: what a person and the agent changed since a read, and who did it."""

import json
import statistics
import time

import pytest
from fastmcp import Client

from .collab import Collaborator
from .conftest import call, call_error, eventually, write_notebook
from .servers import Server

pytestmark = pytest.mark.usefixtures("shut_down_kernels")

ADA = {"name": "Ada", "display_name": "Ada", "is_mcp": False}


async def _changes(mcp: Client, path: str, since: str) -> dict:
    return await call(mcp, "notebook_changes", path=path, since=since)


async def test_a_persons_edits_are_reported_with_her_name(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["a = 1", "b = 2", "c = 3"])
    cursor = (await call(mcp, "notebook_get", path=path))["cursor"]
    async with Collaborator(server, path) as ada:
        cells = ada.notebook.ycells
        ids = [str(c["id"]) for c in cells]
        text = cells[0]["source"]  # bound first: a Text edits in place
        text += "  # checked"
        await eventually(lambda: _changes(mcp, path, cursor))
        feed = await _changes(mcp, path, cursor)
        assert feed["changes"] == [{"kind": "source", "cell_id": ids[0], "index": 0, "by": ADA}]

        cursor = feed["cursor"]
        ada.notebook.append_cell({"cell_type": "markdown", "source": "## Notes"})
        with ada.doc.transaction():  # a move, as JupyterLab makes it: delete and insert
            moved = json.loads(str(cells[1]))
            del cells[1]
            cells.insert(2, ada.notebook.create_ycell(moved))
        with ada.doc.transaction():
            del cells[0]

        async def three() -> list | None:
            changes = (await _changes(mcp, path, cursor))["changes"]
            return changes if len(changes) == 3 else None

        changes = await eventually(three)
        assert [(c["kind"], c["index"], c["by"]) for c in changes] == [
            ("added", 3, ADA), ("moved", 2, ADA), ("deleted", 0, ADA)
        ]  # fmt: skip
        assert [c["cell_id"] for c in changes[1:]] == [ids[1], ids[0]]
        added = next(c for c in changes if c["kind"] == "added")
        assert (await call(mcp, "cell_get", path=path, cell_id=added["cell_id"]))["source"] == (
            "## Notes"
        )


async def test_the_agents_own_edits_and_runs_are_marked_as_mcp(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["x = 1"])
    cursor = (await call(mcp, "cell_get", path=path, index=0))["cursor"]
    inserted = await call(mcp, "cell_insert", path=path, source="print(x)")
    await call(mcp, "cell_update", path=path, index=0, source="x = 2")
    await call(mcp, "cell_execute", path=path, index=1)
    await call(mcp, "cell_update", path=path, index=0, source="# x", cell_type="markdown")
    feed = await _changes(mcp, path, cursor)
    kinds = [(c["kind"], c["index"]) for c in feed["changes"]]
    assert ("added", 1) in kinds and ("source", 0) in kinds
    assert ("outputs", 1) in kinds and ("type", 0) in kinds
    assert all(c["by"]["is_mcp"] is True and c["by"]["name"] for c in feed["changes"])
    assert (
        next(c for c in feed["changes"] if c["kind"] == "added")["cell_id"] == (inserted["cell_id"])
    )
    # Nothing since the last cursor; the cursor does not move without changes.
    again = await _changes(mcp, path, feed["cursor"])
    assert again == {"cursor": feed["cursor"], "changes": []}


async def test_a_cursor_that_cannot_be_answered_says_to_read_again(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["x = 1"])
    await call(mcp, "notebook_get", path=path)
    message = await call_error(mcp, "notebook_changes", path=path, since="not-a-cursor")
    assert "cannot be answered" in message and "notebook_get" in message


async def test_notebook_changes_latency(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, [f"cell {i}" for i in range(100)])
    cursor = (await call(mcp, "notebook_get", path=path, limit=1))["cursor"]
    for i in range(20):
        await call(mcp, "cell_update", path=path, index=i, source=f"edited {i}")
    times = []
    for _ in range(30):
        start = time.perf_counter()
        feed = await _changes(mcp, path, cursor)
        times.append(time.perf_counter() - start)
    assert len(feed["changes"]) == 20
    p50 = statistics.median(times) * 1000
    print(f"\n[changes] notebook_changes with 20 changes: p50 {p50:.1f} ms")
