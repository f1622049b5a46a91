"""Notebook files changed under a live room, as people and programs change them: renamed,
moved and deleted through Jupyter, moved on disk, broken and fixed, replaced by another
program before the agent's edits reached them; and rooms that come and go under a watch."""

import asyncio
import json
import re
from pathlib import Path

import httpx
from fastmcp import Client

from .collab import Collaborator
from .conftest import (
    call,
    call_error,
    client_for,
    disk_sources,
    eventually,
    read_notebook,
    write_notebook,
)
from .servers import Server, running_server


def tracebacks(server: Server) -> list[str]:
    """Tracebacks in the server's log that pass through this extension's code."""
    blocks = re.split(r"\n(?=\S)", server.log.read_text())
    return [b for b in blocks if "Traceback" in b and "jupyter_mcp" in b]


async def rows(mcp: Client) -> list[dict]:
    return await call(mcp, "room_list")


async def test_a_rename_through_jupyter_keeps_the_live_document_and_its_unsaved_edits(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["a = 1", "b = 2"])
    before = await call(mcp, "notebook_get", path=path)
    await call(mcp, "cell_update", path=path, index=0, source="a = 'edited'")
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
        moved = "renamed/" + path
        (server.root / "renamed").mkdir(exist_ok=True)
        response = await http.patch(f"api/contents/{path}", json={"path": moved})
        assert response.status_code == 200, response.text
    after = await call(mcp, "notebook_get", path=moved)
    assert [c["id"] for c in after["cells"]] == [c["id"] for c in before["cells"]]
    assert after["cells"][0]["source"] == "a = 'edited'"
    assert "does not exist" in await call_error(mcp, "cell_get", path=path, index=0)
    await eventually(lambda: disk_sources(server.root, moved) == ["a = 'edited'", "b = 2"])
    assert not (server.root / path).exists()
    assert [r["path"] for r in await rows(mcp) if r["path"] in (path, moved)] == [moved]


async def test_a_notebook_deleted_through_jupyter_is_never_written_again(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        path = write_notebook(server.root, ["x = 1"])
        async with client_for(server) as mcp:
            await call(mcp, "cell_insert", path=path, source="unsaved when deleted")
            async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
                assert (await http.delete(f"api/contents/{path}")).status_code == 204
            assert "does not exist" in await call_error(mcp, "cell_get", path=path, index=0)

            async def closed() -> bool:
                return not [r for r in await rows(mcp) if r["path"] == path]

            await eventually(closed)
            await asyncio.sleep(2)  # past the autosave delay and a file poll
            assert not (server.root / path).exists()
        server.stop()
        assert not (server.root / path).exists()
        assert tracebacks(server) == []
        assert "No path found for file ID" not in server.log.read_text()


async def test_a_notebook_moved_on_disk_under_a_person_leaves_no_pathless_room(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["m = 1"])
    async with Collaborator(server, path):
        await call(mcp, "cell_update", path=path, index=0, source="m = 2")
        await eventually(lambda: disk_sources(server.root, path) == ["m = 2"])
        moved = "moved-" + path
        (server.root / path).rename(server.root / moved)
        await asyncio.sleep(1.5)  # a file poll
        listed = await rows(mcp)
        assert all(r["path"] is not None for r in listed)
        assert path not in [r["path"] for r in listed]
        assert (await call(mcp, "cell_get", path=moved, index=0))["source"] == "m = 2"
        assert "does not exist" in await call_error(mcp, "cell_get", path=path, index=0)


async def test_a_broken_notebook_loads_once_its_file_is_fixed(server: Server, mcp: Client) -> None:
    path = "half-merged.ipynb"
    (server.root / path).write_text('{"cells": [<<<<<<< HEAD')
    message = await call_error(mcp, "cell_get", path=path, index=0)
    assert f"'{path}' cannot be loaded as a notebook" in message and "Fix the file" in message
    assert str(server.root) not in message  # the server's own paths stay on the server
    write_notebook(server.root, ["fixed = True"], path)
    cell = await asyncio.wait_for(call(mcp, "cell_get", path=path, index=0), 20)
    assert cell["source"] == "fixed = True"
    await call(mcp, "cell_insert", path=path, source="and edited")
    await eventually(lambda: disk_sources(server.root, path) == ["fixed = True", "and edited"])


async def test_edits_lost_to_a_file_replaced_on_disk_are_reported_and_kept(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["original"])
    cursor = (await call(mcp, "notebook_get", path=path))["cursor"]
    updated = await call(mcp, "cell_update", path=path, index=0, source="agent's version")
    inserted = await call(mcp, "cell_insert", path=path, source="agent's new cell")
    write_notebook(server.root, ["from git checkout"], path)  # before the 1 s autosave

    async def told() -> str | None:
        result = await mcp.call_tool("cell_get", {"path": path, "index": 0}, raise_on_error=False)
        return result.content[0].text if result.is_error else None

    message = await eventually(told, timeout=15)
    assert "was replaced on disk" in message
    assert updated["cell_id"] in message and inserted["cell_id"] in message
    kept = re.search(r"kept in '([^']+)'", message).group(1)
    kept_cells = read_notebook(server.root, kept)["cells"]
    assert {c["id"]: c["source"] for c in kept_cells} == {
        updated["cell_id"]: "agent's version",
        inserted["cell_id"]: "agent's new cell",
    }
    # The change feed says it too.
    feed = (await call(mcp, "notebook_changes", path=path, since=cursor))["changes"]
    [replaced] = [c for c in feed if c["kind"] == "file_replaced"]
    assert replaced["kept_in"] == kept and len(replaced["lost"]) == 2
    # Said once; the notebook is the file's content, and the file is untouched by the room.
    assert (await call(mcp, "cell_get", path=path, index=0))["source"] == "from git checkout"
    await asyncio.sleep(1.5)
    assert disk_sources(server.root, path) == ["from git checkout"]


async def test_saved_edits_and_a_later_change_on_disk_report_nothing(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["original"])
    await call(mcp, "cell_update", path=path, index=0, source="saved edit")
    await eventually(lambda: disk_sources(server.root, path) == ["saved edit"])
    await asyncio.sleep(0.6)
    write_notebook(server.root, ["changed later"], path)

    async def reloaded() -> bool:
        return (await call(mcp, "cell_get", path=path, index=0))["source"] == "changed later"

    await eventually(reloaded, timeout=15)
    assert not list(server.root.glob(path.removesuffix(".ipynb") + ".unsaved-*"))


async def test_a_watch_follows_its_room_when_the_room_is_re_created(tmp_path: Path) -> None:
    # With no cleanup delay, the collaboration extension deletes a room the moment its last
    # client leaves; the person's return creates a new room for the same notebook.
    with running_server(tmp_path, "--YDocExtension.document_cleanup_delay=0") as server:
        path = write_notebook(server.root, ["x = 1"])
        async with client_for(server) as mcp:
            async with Collaborator(server, path):
                watch = asyncio.create_task(call(mcp, "notebook_watch", path=path, timeout=60))
                await asyncio.sleep(1.5)
            await asyncio.sleep(1.5)
            async with Collaborator(server, path) as ada:
                ada.notebook.append_cell({"cell_type": "markdown", "source": "back again"})
                result = await asyncio.wait_for(watch, 20)
            assert (result["changed"], result["cell_count"]) == (True, 2)
            assert [c["kind"] for c in result["changes"]] == ["added"]
        server.stop()
        assert tracebacks(server) == []


async def test_rooms_deleted_and_re_created_around_calls_are_all_closed(tmp_path: Path) -> None:
    args = ("--YDocExtension.document_cleanup_delay=0", "--MCPExtension.room_idle_timeout=1")
    with running_server(tmp_path, *args) as server:
        path = write_notebook(server.root, ["x = 1"])
        async with client_for(server) as mcp:

            async def calls() -> None:
                for i in range(40):
                    await call(mcp, "cell_insert", path=path, source=f"agent {i}")

            agent = asyncio.create_task(calls())
            for _ in range(6):  # people come and go while the agent works
                async with Collaborator(server, path):
                    await asyncio.sleep(0.2)
            await agent

            async def all_closed() -> bool:
                return not await rows(mcp)

            await eventually(all_closed, timeout=20)
            live = json.dumps(await call(mcp, "notebook_get", path=path))
            assert all(f"agent {i}" in live for i in range(40))
        server.stop()
        assert tracebacks(server) == []
