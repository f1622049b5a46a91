"""The tools agents expect beyond reading and writing whole cells: conflict-safe edits with
versions, move, find-and-replace, clearing outputs, insert-and-run, search, and notebooks
created as they are read."""

import pytest
from fastmcp import Client

from .collab import Collaborator
from .conftest import call, call_error, disk_sources, eventually, read_notebook, write_notebook
from .servers import Server

pytestmark = pytest.mark.usefixtures("shut_down_kernels")


async def test_a_stale_version_is_refused_after_a_person_edits(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["x = 1", "y = 2"])
    read = await call(mcp, "notebook_get", path=path)
    version = read["cells"][0]["version"]
    cell_id = read["cells"][0]["id"]
    async with Collaborator(server, path) as ada:
        text = ada.notebook.ycells[0]["source"]  # bound first: a Text edits in place
        text += "  # Ada"
        await eventually(
            lambda: _source(mcp, path, 0, "x = 1  # Ada")
        )  # the agent's view has her edit
        for tool, arguments in [
            ("cell_update", {"source": "x = 10"}),
            ("cell_edit", {"old": "1", "new": "10"}),
            ("cell_delete", {}),
            ("cell_move", {"to": 1}),
        ]:
            message = await call_error(
                mcp, tool, path=path, cell_id=cell_id, expected_version=version, **arguments
            )
            assert f"has changed since version {version}" in message, tool
            assert "x = 1  # Ada" in message and "nothing was changed" in message
        after = await call(mcp, "notebook_get", path=path)
        assert [c["source"] for c in after["cells"]] == ["x = 1  # Ada", "y = 2"]
        # With the current version, the edit goes through and returns the next version.
        current = after["cells"][0]["version"]
        done = await call(
            mcp, "cell_update", path=path, cell_id=cell_id, source="x = 10",
            expected_version=current,
        )  # fmt: skip
        assert done["version"] != current
        assert (await call(mcp, "cell_get", path=path, index=0))["version"] == done["version"]
        await eventually(lambda: str(ada.notebook.ycells[0]["source"]) == "x = 10")


async def _source(mcp: Client, path: str, index: int, expected: str) -> bool:
    return (await call(mcp, "cell_get", path=path, index=index))["source"] == expected


async def test_cell_move_keeps_the_cell_and_a_person_sees_it(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["a", "b", "c", "d"])
    first = await call(mcp, "cell_get", path=path, index=0)
    ran = await call(mcp, "cell_update", path=path, index=0, source="print('a')")
    await call(mcp, "cell_execute", path=path, index=0)
    async with Collaborator(server, path) as ada:
        moved = await call(mcp, "cell_move", path=path, index=0, to=2)
        assert (moved["from"], moved["index"], moved["cell_id"]) == (0, 2, first["id"])
        cell = await call(mcp, "cell_get", path=path, index=2)
        assert cell["id"] == first["id"] and cell["source"] == "print('a')"
        assert cell["outputs"][0]["text"] == "a\n" and cell["execution_count"] == 1
        await eventually(
            lambda: [str(c["source"]) for c in ada.notebook.ycells] == ["b", "c", "print('a')", "d"]
        )
        assert str(ada.notebook.ycells[2]["id"]) == first["id"]
        assert ran["cell_id"] == first["id"]
    await eventually(lambda: disk_sources(server.root, path) == ["b", "c", "print('a')", "d"])
    message = await call_error(mcp, "cell_move", path=path, index=0, to=4)
    assert "out of range" in message


async def test_cell_edit_replaces_exactly_what_it_is_told(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["total = price * count\nprint(total)\nprint(total)"])
    edited = await call(mcp, "cell_edit", path=path, index=0, old="count", new="quantity")
    assert edited["replacements"] == 1
    twice = await call_error(mcp, "cell_edit", path=path, index=0, old="print(total)", new="x")
    assert "occurs 2 times" in twice and "replace_all" in twice
    missing = await call_error(mcp, "cell_edit", path=path, index=0, old="nowhere", new="x")
    assert "does not occur" in missing
    both = await call(
        mcp, "cell_edit", path=path, index=0, old="print(total)", new="show(total)",
        replace_all=True,
    )  # fmt: skip
    assert both["replacements"] == 2
    cell = await call(mcp, "cell_get", path=path, index=0)
    assert cell["source"] == "total = price * quantity\nshow(total)\nshow(total)"


async def test_outputs_are_cleared_per_cell_and_per_notebook(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["print(1)", "print(2)", "print(3)"])
    await call(mcp, "notebook_execute", path=path)
    one = await call(mcp, "cell_clear_outputs", path=path, index=1)
    assert one["cleared"] is True
    cell = await call(mcp, "cell_get", path=path, index=1)
    assert cell["outputs"] == [] and cell["execution_count"] is None
    again = await call(mcp, "cell_clear_outputs", path=path, index=1)
    assert again["cleared"] is False
    assert (await call(mcp, "notebook_clear_outputs", path=path))["cleared"] == 2

    def cleared() -> bool:
        cells = read_notebook(server.root, path)["cells"]
        return all(c["outputs"] == [] and c["execution_count"] is None for c in cells)

    await eventually(cleared)


async def test_cell_insert_can_run_the_new_cell(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["x = 20"])
    await call(mcp, "cell_execute", path=path, index=0)
    ran = await call(mcp, "cell_insert", path=path, source="x + 22", execute=True)
    assert ran["status"] == "ok" and ran["index"] == 1 and ran["cell_count"] == 2
    assert ran["outputs"][0]["data"]["text/plain"] == "42"
    cell = await call(mcp, "cell_get", path=path, index=1)
    assert cell["id"] == ran["cell_id"] and cell["execution_count"] == ran["execution_count"]
    message = await call_error(
        mcp, "cell_insert", path=path, source="# t", cell_type="markdown", execute=True
    )
    assert "Only code cells run" in message
    assert len((await call(mcp, "notebook_get", path=path))["cells"]) == 2


async def test_notebook_search_finds_lines_live_and_on_disk(server: Server, mcp: Client) -> None:
    live = write_notebook(server.root, ["import pandas as pd", "df = pd.read_csv('x.csv')"])
    saved = write_notebook(server.root, ["# nothing here", "data = read_csv('y.csv')"], "s/y.ipynb")
    await call(mcp, "cell_update", path=live, index=0, source="import pandas as pd\nread_csv")
    found = (await call(mcp, "notebook_search", query="read_csv"))["matches"]
    assert {(m["path"], m["index"]) for m in found} >= {(live, 0), (live, 1), (saved, 1)}
    first = next(m for m in found if m["path"] == live and m["index"] == 0)
    assert first["lines"] == [{"line": 2, "text": "read_csv"}] and first["cell_id"]
    only = (await call(mcp, "notebook_search", query=r"read_csv\('y", regex=True))["matches"]
    assert [(m["path"], m["index"]) for m in only] == [(saved, 1)]
    scoped = await call(mcp, "notebook_search", query="pandas", path=live)
    assert [m["index"] for m in scoped["matches"]] == [0]
    bad = await call_error(mcp, "notebook_search", query="(", regex=True)
    assert "not a valid regular expression" in bad


async def test_notebooks_are_created_as_they_are_read(server: Server, mcp: Client) -> None:
    made = await call(
        mcp, "notebook_create", path="made.ipynb",
        cells=[{"source": "# Title", "cell_type": "markdown"}, {"source": "x = 1"}],
    )  # fmt: skip
    assert [(c["index"], c["cell_type"]) for c in made["cells"]] == [(0, "markdown"), (1, "code")]
    read = await call(mcp, "notebook_get", path="made.ipynb")
    assert [c["id"] for c in read["cells"]] == [c["cell_id"] for c in made["cells"]]
    assert [c["source"] for c in read["cells"]] == ["# Title", "x = 1"]
    empty = await call(mcp, "notebook_create", path="empty.ipynb")
    [only] = empty["cells"]
    assert only["cell_type"] == "code"
    live = await call(mcp, "notebook_get", path="empty.ipynb")
    assert [c["id"] for c in live["cells"]] == [only["cell_id"]] and live["cell_count"] == 1
    inserted = await call(mcp, "cell_insert", path="empty.ipynb", source="appended")
    assert inserted["index"] == 1 and inserted["cell_count"] == 2
    await eventually(lambda: disk_sources(server.root, "empty.ipynb") == ["", "appended"])
    disk_ids = [c["id"] for c in read_notebook(server.root, "empty.ipynb")["cells"]]
    assert disk_ids == [only["cell_id"], inserted["cell_id"]]
