"""Rooms over time: the idle sweeper, shutdown, and the launcher."""

import asyncio
import signal
import sys
import time
from pathlib import Path

import httpx

from .collab import Collaborator
from .conftest import (
    call,
    client_for,
    disk_sources,
    eventually,
    read_notebook,
    wire,
    write_notebook,
)
from .servers import TOKEN, free_port, running_server


def _rooms(rows: list[dict], path: str) -> list[dict]:
    return [row for row in rows if row["path"] == path]


async def test_sweeper_closes_idle_mcp_rooms_but_not_joined_ones(tmp_path) -> None:
    with running_server(tmp_path, "--MCPExtension.room_idle_timeout=1") as server:
        alone = write_notebook(server.root, ["alone"], "alone.ipynb")
        shared = write_notebook(server.root, ["shared"], "shared.ipynb")
        async with client_for(server) as mcp, Collaborator(server, shared) as ada:
            await call(mcp, "cell_insert", path=alone, source="saved before closing")
            await call(mcp, "cell_insert", path=shared, source="agent edit")
            await eventually(lambda: len(ada.sources()) == 2)

            async def alone_closed() -> bool:
                return not _rooms(await call(mcp, "room_list"), alone)

            await eventually(alone_closed, timeout=15)
            assert disk_sources(server.root, alone) == ["alone", "saved before closing"]
            await asyncio.sleep(2.5)  # well past the idle timeout
            assert _rooms(await call(mcp, "room_list"), shared)[0]["user_count"] == 1

            # The next call reopens the closed room and works on the saved content.
            await call(mcp, "cell_insert", path=alone, source="after reopening")
            nb = await call(mcp, "notebook_get", path=alone)
            assert [c["source"] for c in nb["cells"]] == [
                "alone",
                "saved before closing",
                "after reopening",
            ]
            await eventually(
                lambda: (
                    disk_sources(server.root, alone)
                    == ["alone", "saved before closing", "after reopening"]
                )
            )


async def test_idle_timeout_comes_from_the_environment(tmp_path) -> None:
    env = {"MCP_ROOM_IDLE_TIMEOUT_SEC": "1", "MCP_SERVER_NAME": "lab-agent"}
    with running_server(tmp_path, env=env) as server:
        path = write_notebook(server.root, ["x"])
        async with client_for(server) as mcp:
            assert wire(mcp.initialize_result)["serverInfo"]["name"] == "lab-agent"
            await call(mcp, "cell_get", path=path, index=0)

            async def closed() -> bool:
                return not _rooms(await call(mcp, "room_list"), path)

            await eventually(closed, timeout=15)


async def test_edit_right_before_sigterm_is_on_disk(tmp_path) -> None:
    with running_server(tmp_path) as server:
        path = write_notebook(server.root, ["before"])
        async with client_for(server) as mcp, Collaborator(server, path) as ada:
            await call(mcp, "cell_insert", path=path, source="last words")
            await eventually(lambda: len(ada.sources()) == 2)
            start = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            # Waiting in a thread keeps the collaborator's websocket answering meanwhile.
            await asyncio.to_thread(server.process.wait, 30)
            assert time.monotonic() - start < 5
        assert disk_sources(server.root, path) == ["before", "last words"]


async def test_edit_right_before_sigterm_without_collaborator_is_on_disk(tmp_path) -> None:
    with running_server(tmp_path) as server:
        path = write_notebook(server.root, ["before"])
        async with client_for(server) as mcp:
            await call(mcp, "cell_insert", path=path, source="last words")
        assert server.stop(signal.SIGTERM, timeout=30) is not None
        assert disk_sources(server.root, path) == ["before", "last words"]


def launcher_command(tmp_path: Path, port: int, workspace: Path) -> list[str]:
    """`jupyter mcp lab` on `port`, its collaboration databases isolated in `tmp_path`."""
    return [
        sys.executable, "-m", "jupyter_mcp.cli", "lab", "--port", str(port),
        "--workspace", str(workspace),
        f"--SQLiteYStore.db_path={tmp_path / 'y.db'}",
        f"--BaseFileIdManager.db_path={tmp_path / 'f.db'}",
    ]  # fmt: skip


async def test_launcher_serves_api_and_mcp_with_the_token_file(tmp_path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("launcher-token\n")
    workspace = tmp_path / "ws"
    port = free_port()
    command = launcher_command(tmp_path, port, workspace)
    env = {"JUPYTER_TOKEN_FILE": str(token_file)}
    with running_server(
        tmp_path, token="launcher-token", env=env, command=command, port=port, root=workspace
    ) as server:
        assert workspace.is_dir()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/api")).json()["version"]
            assert (await http.post("/mcp", json={})).status_code in (401, 403)
        async with client_for(server) as mcp:
            assert await mcp.ping()
            assert await call(mcp, "notebook_create", path="hello.ipynb")
        assert (workspace / "hello.ipynb").is_file()
        output = server.log.read_text()
        assert f"http://127.0.0.1:{port}/lab  (token in {token_file})" in output
        assert f"http://127.0.0.1:{port}/mcp" in output
        assert "launcher-token" not in output


async def test_launcher_without_token_file_generates_a_token(tmp_path) -> None:
    port = free_port()
    command = launcher_command(tmp_path, port, tmp_path / "ws")
    env = {"JUPYTER_TOKEN_FILE": str(tmp_path / "absent")}
    with running_server(tmp_path, token=None, env=env, command=command, port=port) as server:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/mcp")).status_code in (401, 403)
        lines = server.log.read_text().splitlines()
        line = next(text for text in lines if "lab?token=" in text)
        token = line.rsplit("token=", 1)[1].strip()
        assert len(token) >= 32 and token != TOKEN
        server.token = token
        async with client_for(server) as mcp:
            assert await mcp.ping()


async def test_a_room_deleted_after_its_last_client_left_is_re_resolved(tmp_path) -> None:
    with running_server(tmp_path, "--YDocExtension.document_cleanup_delay=2") as server:
        path = write_notebook(server.root, ["start"])
        async with client_for(server) as mcp:
            async with Collaborator(server, path) as ada:
                await call(mcp, "cell_insert", path=path, source="while Ada is here")
                await eventually(lambda: len(ada.sources()) == 2)
            first_room = _rooms(await call(mcp, "room_list"), path)[0]

            async def deleted() -> bool:
                return not _rooms(await call(mcp, "room_list"), path)

            await eventually(deleted, timeout=15)
            await call(mcp, "cell_insert", path=path, source="after the room was deleted")
            rows = _rooms(await call(mcp, "room_list"), path)
            assert len(rows) == 1 and rows[0]["room_id"] == first_room["room_id"]
            await eventually(
                lambda: (
                    disk_sources(server.root, path)
                    == ["start", "while Ada is here", "after the room was deleted"]
                )
            )
            async with Collaborator(server, path) as bob:
                assert bob.sources() == disk_sources(server.root, path)


async def test_an_edit_just_before_the_room_cleanup_is_not_lost(tmp_path) -> None:
    with running_server(
        tmp_path,
        "--YDocExtension.document_cleanup_delay=1.5",
        "--YDocExtension.document_save_delay=1",
        "--MCPExtension.room_idle_timeout=4",
    ) as server:
        path = write_notebook(server.root, ["start"])
        async with client_for(server) as mcp:
            async with Collaborator(server, path):
                pass
            await asyncio.sleep(1.2)  # the room's deletion is due in 0.3 s, its autosave in 1 s
            await call(mcp, "cell_insert", path=path, source="just in time")
            await asyncio.sleep(2)
            assert _rooms(await call(mcp, "room_list"), path), "room deleted under the edit"
            assert disk_sources(server.root, path) == ["start", "just in time"]

            async def closed_by_sweeper() -> bool:
                return not _rooms(await call(mcp, "room_list"), path)

            await eventually(closed_by_sweeper, timeout=15)
            assert disk_sources(server.root, path) == ["start", "just in time"]


async def test_the_sweeper_keeps_a_room_with_a_silent_running_cell(tmp_path) -> None:
    with running_server(tmp_path, "--MCPExtension.room_idle_timeout=1") as server:
        path = write_notebook(server.root, ["import time\ntime.sleep(4)\nprint('done')"])
        async with client_for(server) as mcp:
            running = asyncio.create_task(call(mcp, "cell_execute", path=path, index=0))
            await asyncio.sleep(3)  # three idle timeouts without a touch of the room
            rows = _rooms(await call(mcp, "room_list"), path)
            assert rows and rows[0]["has_kernel"]
            result = await running
            assert result["status"] == "ok" and result["outputs"][0]["text"] == "done\n"

            async def closed() -> bool:
                return not _rooms(await call(mcp, "room_list"), path)

            await eventually(closed, timeout=15)
            saved = read_notebook(server.root, path)["cells"][0]
            assert saved["outputs"][0]["text"] == "done\n" and saved["execution_count"] == 1
