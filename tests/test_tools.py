"""Each tool's result shape, and its errors: clear, and nothing changed after them."""

import os
from pathlib import Path

import pytest
from fastmcp import Client

from .conftest import call, call_error, disk_sources, read_notebook, write_notebook
from .servers import Server


async def test_notebook_list_skips_hidden_and_checkpoints(server: Server, mcp: Client) -> None:
    write_notebook(server.root, ["x"], "listing/visible.ipynb")
    write_notebook(server.root, ["x"], "listing/.hidden/secret.ipynb")
    write_notebook(server.root, ["x"], "listing/.ipynb_checkpoints/visible-checkpoint.ipynb")
    (server.root / "listing" / "notes.txt").write_text("not a notebook")
    listed = await call(mcp, "notebook_list")
    paths = [row["path"] for row in listed if row["path"].startswith("listing/")]
    assert paths == ["listing/visible.ipynb"]
    assert {"path": "listing/visible.ipynb", "name": "visible.ipynb"} in listed


async def test_notebook_list_opens_no_room(server: Server, mcp: Client) -> None:
    write_notebook(server.root, ["x"], "unopened.ipynb")
    await call(mcp, "notebook_list")
    assert "unopened.ipynb" not in [row["path"] for row in await call(mcp, "room_list")]


async def test_notebook_create_makes_a_valid_notebook(server: Server, mcp: Client) -> None:
    created = await call(mcp, "notebook_create", path="created/../fresh.ipynb")
    [cell] = created.pop("cells")
    assert created == {"path": "fresh.ipynb", "name": "fresh.ipynb"}
    on_disk = read_notebook(server.root, "fresh.ipynb")
    assert on_disk["nbformat"] == 4
    assert on_disk["metadata"]["kernelspec"]["name"]
    assert [(c["id"], c["cell_type"]) for c in on_disk["cells"]] == [(cell["cell_id"], "code")]
    assert "fresh.ipynb" not in [row["path"] for row in await call(mcp, "room_list")]


async def test_notebook_create_refuses_an_existing_file(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["keep me"])
    before = (server.root / path).read_text()
    message = await call_error(mcp, "notebook_create", path=path)
    assert "already exists" in message
    assert (server.root / path).read_text() == before


@pytest.mark.parametrize("bad", ["nested/missing-dir/x.ipynb", "plain.txt", "../escape.ipynb"])
async def test_notebook_create_refuses_bad_paths(server: Server, mcp: Client, bad: str) -> None:
    await call_error(mcp, "notebook_create", path=bad)
    assert not (server.root / bad).exists()


async def test_notebook_get_returns_nbformat(mcp: Client, notebook: str) -> None:
    nb = await call(mcp, "notebook_get", path=notebook, outputs="full")
    assert {
        "cells",
        "metadata",
        "nbformat",
        "nbformat_minor",
        "cell_count",
        "start",
        "cursor",
    } == set(nb)
    assert [cell["source"] for cell in nb["cells"]] == ["a = 1", "b = 2", "print(a + b)"]
    assert all(cell["id"] for cell in nb["cells"])


async def test_cell_get_shape_by_index_and_by_id(mcp: Client, notebook: str) -> None:
    cell = await call(mcp, "cell_get", path=notebook, index=1)
    assert {"id", "cell_type", "source", "metadata", "outputs", "execution_count"} <= set(cell)
    assert cell["source"] == "b = 2" and cell["cell_type"] == "code"
    assert await call(mcp, "cell_get", path=notebook, cell_id=cell["id"]) == cell


async def test_cell_insert_update_delete_name_the_cell_ids(
    server: Server, mcp: Client, notebook: str
) -> None:
    inserted = await call(
        mcp, "cell_insert", path=notebook, index=1, source="# Title", cell_type="markdown"
    )
    assert inserted["index"] == 1 and inserted["cell_count"] == 4 and inserted["cell_id"]
    appended = await call(mcp, "cell_insert", path=notebook, index=-1, source="last")
    assert appended["index"] == 4
    at_len = await call(mcp, "cell_insert", path=notebook, index=5, source="after last")
    assert at_len["index"] == 5
    before = await call(
        mcp, "cell_insert", path=notebook, cell_id=inserted["cell_id"], source="before title"
    )
    assert before["index"] == 1

    updated = await call(
        mcp, "cell_update", path=notebook, cell_id=inserted["cell_id"], source="# New title"
    )
    assert updated["index"] == 2 and updated["cell_id"] == inserted["cell_id"]

    deleted = await call(mcp, "cell_delete", path=notebook, index=0)
    assert deleted["cell_count"] == 6 and deleted["cell_id"]
    cells = (await call(mcp, "notebook_get", path=notebook))["cells"]
    assert [c["source"] for c in cells] == [
        "before title",
        "# New title",
        "b = 2",
        "print(a + b)",
        "last",
        "after last",
    ]
    assert cells[1]["cell_type"] == "markdown"


async def test_cell_update_changes_cell_type_keeping_id_and_place(
    mcp: Client, notebook: str
) -> None:
    before = await call(mcp, "cell_get", path=notebook, index=1)
    await call(mcp, "cell_update", path=notebook, index=1, source="*text*", cell_type="markdown")
    after = await call(mcp, "cell_get", path=notebook, index=1)
    assert after["id"] == before["id"]
    assert after["cell_type"] == "markdown" and after["source"] == "*text*"
    assert "outputs" not in after


ERROR_CASES = [
    ("cell_get", {"index": 3}, "out of range"),
    ("cell_get", {"index": -1}, "out of range"),
    ("cell_get", {"cell_id": "no-such-id"}, "No cell has id"),
    ("cell_get", {}, "exactly one"),
    ("cell_update", {"index": 9, "source": "x"}, "out of range"),
    # The schema says what cell_type and index take; the client is told so.
    ("cell_update", {"index": 0, "source": "x", "cell_type": "python"}, "'code', 'markdown' or"),
    ("cell_update", {"index": 0, "source": "x" * 1_000_001}, "limit"),
    ("cell_insert", {"index": 4, "source": "x"}, "out of range"),
    ("cell_insert", {"index": -2, "source": "x"}, "greater than or equal to -1"),
    ("cell_insert", {"index": 0, "source": "x", "cell_type": "sql"}, "'code', 'markdown' or"),
    ("cell_insert", {"source": "x", "cell_id": "nope"}, "No cell has id"),
    ("cell_delete", {"index": 3}, "out of range"),
    ("cell_delete", {"cell_id": "nope"}, "No cell has id"),
]


@pytest.mark.parametrize(("tool", "arguments", "expected"), ERROR_CASES)
async def test_bad_cell_requests_change_nothing(
    server: Server, mcp: Client, notebook: str, tool: str, arguments: dict, expected: str
) -> None:
    live_before = await call(mcp, "notebook_get", path=notebook)
    message = await call_error(mcp, tool, path=notebook, **arguments)
    assert expected in message
    assert await call(mcp, "notebook_get", path=notebook) == live_before
    assert disk_sources(server.root, notebook) == ["a = 1", "b = 2", "print(a + b)"]


def _escapes(server: Server, tmp_path: Path) -> list[str]:
    outside = tmp_path / "outside.ipynb"
    write_notebook(tmp_path, ["secret"], "outside.ipynb")
    link = server.root / f"link-{tmp_path.name}.ipynb"
    if not link.exists():
        os.symlink(outside, link)
    dir_link = server.root / f"dirlink-{tmp_path.name}"
    if not dir_link.exists():
        os.symlink(tmp_path, dir_link)
    return [
        "../outside.ipynb",
        "sub/../../outside.ipynb",
        str(outside),
        "/etc/passwd.ipynb",
        link.name,
        f"{dir_link.name}/outside.ipynb",
    ]


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("notebook_get", {}),
        ("notebook_watch", {"timeout": 1}),
        ("notebook_list_users", {}),
        ("cell_get", {"index": 0}),
        ("cell_update", {"index": 0, "source": "pwned"}),
        ("cell_insert", {"source": "pwned"}),
        ("cell_delete", {"index": 0}),
        ("notebook_create", {}),
    ],
)
async def test_paths_outside_the_root_are_refused(
    server: Server, mcp: Client, tmp_path: Path, tool: str, arguments: dict
) -> None:
    for escape in _escapes(server, tmp_path):
        message = await call_error(mcp, tool, path=escape, **arguments)
        assert "outside the server root" in message or "already exists" in message, message
    assert disk_sources(tmp_path, "outside.ipynb") == ["secret"]


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("notebook_get", {}),
        ("cell_get", {"index": 0}),
        ("cell_update", {"index": 0, "source": "x"}),
        ("cell_insert", {"source": "x"}),
        ("cell_delete", {"index": 0}),
        ("notebook_watch", {"timeout": 1}),
    ],
)
async def test_missing_and_non_notebook_files_are_refused(
    server: Server, mcp: Client, tool: str, arguments: dict
) -> None:
    (server.root / "data.txt").write_text("plain text")
    assert "does not exist" in await call_error(mcp, tool, path="nowhere.ipynb", **arguments)
    assert "not a notebook" in await call_error(mcp, tool, path="data.txt", **arguments)
    assert (server.root / "data.txt").read_text() == "plain text"
    assert not (server.root / "nowhere.ipynb").exists()
    rooms = await call(mcp, "room_list")
    assert not [r for r in rooms if r["path"] in ("nowhere.ipynb", "data.txt")]


async def test_notebook_list_users_is_empty_without_a_room(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["x"])
    assert await call(mcp, "notebook_list_users", path=path) == []
    assert path not in [row["path"] for row in await call(mcp, "room_list")]


async def test_room_list_shape(mcp: Client, notebook: str) -> None:
    await call(mcp, "cell_get", path=notebook, index=0)
    rows = [row for row in await call(mcp, "room_list") if row["path"] == notebook]
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {"room_id", "path", "file_id", "users", "user_count", "has_kernel"}
    assert row["room_id"] == f"json:notebook:{row['file_id']}"
    assert row["user_count"] == 0 and row["has_kernel"] is False


async def test_notebook_watch_times_out_unchanged(mcp: Client, notebook: str) -> None:
    quiet = await call(mcp, "notebook_watch", path=notebook, timeout=0.01)
    assert quiet["changed"] is False and quiet["cursor"]


async def test_notebook_list_follows_links_only_inside_the_root(
    server: Server, mcp: Client, tmp_path: Path
) -> None:
    target = write_notebook(server.root, ["x"], "links/target.ipynb")
    write_notebook(tmp_path, ["secret"], "outside.ipynb")
    os.symlink(server.root / target, server.root / "links" / "inside-link.ipynb")
    os.symlink(tmp_path / "outside.ipynb", server.root / "links" / "outside-link.ipynb")
    os.symlink(tmp_path, server.root / "links" / "outside-dir")
    paths = [r["path"] for r in await call(mcp, "notebook_list") if r["path"].startswith("links/")]
    assert paths == ["links/inside-link.ipynb", "links/target.ipynb"]
