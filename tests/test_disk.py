"""The disk only gets newer: nothing this server writes replaces a file with older content,
and a notebook nobody edited is never rewritten; no secret reaches a kernel."""

import json
import signal
import sys
import time
from pathlib import Path

import nbformat

from .collab import Collaborator
from .conftest import call, client_for, disk_sources, eventually, write_notebook
from .servers import free_port, running_server

# No out-of-band poll and no autosave within a test: what reaches the disk is what this
# server's shutdown or idle close writes.
QUIET = ("--YDocExtension.file_poll_interval=600", "--YDocExtension.document_save_delay=600")

OLD_NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
               "source": ["x = 1"]}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    "nbformat": 4,
    "nbformat_minor": 4,
}  # fmt: skip


def replace_on_disk(root: Path, path: str, sources: list[str]) -> None:
    """Another program (git checkout, an editor) writes a new version of the file."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    (root / path).write_text(nbformat.writes(nb))


def rooms_of(rows: list[dict], path: str) -> list[dict]:
    return [r for r in rows if r["path"] == path]


async def test_a_read_only_visit_never_rewrites_an_old_notebook(tmp_path: Path) -> None:
    with running_server(tmp_path, "--MCPExtension.room_idle_timeout=1") as server:
        (server.root / "old.ipynb").write_text(json.dumps(OLD_NOTEBOOK, indent=1))
        before = (server.root / "old.ipynb").read_bytes()
        async with client_for(server) as mcp:
            assert (await call(mcp, "cell_get", path="old.ipynb", index=0))["source"] == "x = 1"

            async def closed() -> bool:
                return not rooms_of(await call(mcp, "room_list"), "old.ipynb")

            await eventually(closed, timeout=20)  # the sweeper closed the room
            await call(mcp, "notebook_get", path="old.ipynb")
        assert server.stop(signal.SIGTERM, timeout=30) is not None
        assert (server.root / "old.ipynb").read_bytes() == before


async def test_a_file_replaced_just_before_shutdown_is_not_overwritten(tmp_path: Path) -> None:
    with running_server(tmp_path, *QUIET) as server:
        path = write_notebook(server.root, ["old 1", "old 2"])
        async with client_for(server) as mcp:
            await call(mcp, "cell_get", path=path, index=0)
        replace_on_disk(server.root, path, ["pulled from git"])
        assert server.stop(signal.SIGTERM, timeout=30) is not None
        assert disk_sources(server.root, path) == ["pulled from git"]


async def test_a_file_replaced_before_an_idle_close_is_not_overwritten(tmp_path: Path) -> None:
    with running_server(tmp_path, *QUIET, "--MCPExtension.room_idle_timeout=2") as server:
        path = write_notebook(server.root, ["old"])
        async with client_for(server) as mcp:
            await call(mcp, "cell_get", path=path, index=0)
            replace_on_disk(server.root, path, ["checked out"])

            async def closed() -> bool:
                return not rooms_of(await call(mcp, "room_list"), path)

            await eventually(closed, timeout=20)
        assert disk_sources(server.root, path) == ["checked out"]


async def test_unsaved_edits_and_a_newer_file_both_survive_shutdown(tmp_path: Path) -> None:
    with running_server(tmp_path, *QUIET) as server:
        path = write_notebook(server.root, ["shared"])
        async with client_for(server) as mcp:
            await call(mcp, "cell_insert", path=path, source="the agent's edit")
        replace_on_disk(server.root, path, ["the person's new version"])
        assert server.stop(signal.SIGTERM, timeout=30) is not None
        assert disk_sources(server.root, path) == ["the person's new version"]
        [kept] = server.root.glob(path.removesuffix(".ipynb") + ".unsaved-*.ipynb")
        assert disk_sources(server.root, kept.name) == ["shared", "the agent's edit"]


async def test_unsaved_edits_reach_the_file_at_shutdown(tmp_path: Path) -> None:
    with running_server(tmp_path, *QUIET) as server:
        path = write_notebook(server.root, ["first"])
        async with client_for(server) as mcp:
            await call(mcp, "cell_insert", path=path, source="second")
        assert server.stop(signal.SIGTERM, timeout=30) is not None
        assert disk_sources(server.root, path) == ["first", "second"]
        assert not list(server.root.glob("*.unsaved-*"))


def token_probe(server_root: Path) -> str:
    return write_notebook(
        server_root,
        ["import os, subprocess\n"
         "print(sorted(k for k in os.environ if 'TOKEN' in k))\n"
         "print(subprocess.run(['env'], capture_output=True, text=True).stdout)"],
    )  # fmt: skip


async def test_kernels_never_see_the_token(tmp_path: Path) -> None:
    secret = "s3cret-token-never-in-a-kernel"
    token_file = tmp_path / "token"
    token_file.write_text(secret + "\n")
    port, workspace = free_port(), tmp_path / "ws"
    command = [
        sys.executable, "-m", "jupyter_mcp.cli", "lab",
        "--port", str(port), "--workspace", str(workspace),
        f"--SQLiteYStore.db_path={tmp_path / 'y.db'}",
        f"--BaseFileIdManager.db_path={tmp_path / 'f.db'}",
    ]  # fmt: skip
    env = {"JUPYTER_TOKEN_FILE": str(token_file)}
    with running_server(
        tmp_path, token=secret, env=env, command=command, port=port, root=workspace
    ) as server:
        path = token_probe(server.root)
        async with client_for(server) as mcp:
            result = await call(mcp, "cell_execute", path=path, index=0)
        text = "".join(o.get("text", "") for o in result["outputs"])
        assert text.startswith("[]\n"), text
        assert secret not in text and secret not in server.log.read_text()


async def test_sigterm_exits_quickly_with_a_person_connected_and_a_cell_running(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path) as server:
        path = write_notebook(server.root, ["import time\ntime.sleep(60)", "x"])
        async with client_for(server) as mcp, Collaborator(server, path):
            await call(mcp, "cell_execute", path=path, index=0, wait=False)
            await call(mcp, "cell_insert", path=path, source="written just before")

            async def running() -> bool:
                return (await call(mcp, "execution_list", path=path))[0]["status"] == "running"

            await eventually(running, timeout=20)
            start = time.monotonic()
            assert server.stop(signal.SIGTERM, timeout=30) is not None
            assert time.monotonic() - start < 5
        assert disk_sources(server.root, path)[-1] == "written just before"
