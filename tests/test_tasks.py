"""MCP tasks (the 2026-07-28 tasks extension) for the execution tools, where fastmcp-tasks is
installed: `./run-tests` runs this file in a set of its own with the `tasks` extra."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from .collab import Collaborator
from .conftest import call, client_for, eventually, write_notebook
from .servers import Server

try:
    # Importing it also lets every FastMCP client in this process take part in tasks.
    from fastmcp_tasks import call_tool_task
except ImportError:
    call_tool_task = None

pytestmark = [
    *([pytest.mark.may_skip] if call_tool_task is None else []),
    pytest.mark.skipif(call_tool_task is None, reason="fastmcp-tasks is not installed"),
]


@pytest.fixture
async def modern(server: Server) -> AsyncIterator[Client]:
    """A client on the 2026-07-28 protocol, which carries the tasks extension."""
    transport = StreamableHttpTransport(server.mcp_url, headers=server.headers)
    async with Client(transport, mode="auto") as client:
        yield client


async def test_a_client_that_asks_for_no_task_gets_a_plain_result(server: Server) -> None:
    path = write_notebook(server.root, ["6 * 7"])
    async with client_for(server) as legacy:  # the initialize handshake: no tasks extension
        result = await call(legacy, "cell_execute", path=path, index=0)
    assert result["status"] == "ok" and result["outputs"][0]["data"]["text/plain"] == "42"


async def test_a_cell_runs_as_a_task(server: Server, modern: Client) -> None:
    path = write_notebook(server.root, ["import time\nprint('a', flush=True)\ntime.sleep(2)\n7"])
    async with Collaborator(server, path) as ada:
        task = await call_tool_task(modern, "cell_execute", {"path": path, "index": 0})
        status = await task.status()
        assert status.status == "working"
        result: Any = await task.result()
        data = result.structured_content
        assert data["status"] == "ok" and data["outputs"][-1]["data"]["text/plain"] == "7"
        await eventually(lambda: ada.notebook.get_cell(0).get("execution_count") == 1)


async def test_a_cancelled_task_leaves_the_run_going(server: Server, modern: Client) -> None:
    code = "import time\nfor i in range(3):\n    print('t', i, flush=True); time.sleep(0.7)"
    path = write_notebook(server.root, [code])
    async with Collaborator(server, path) as ada:
        task = await call_tool_task(modern, "cell_execute", {"path": path, "index": 0})
        await eventually(lambda: ada.notebook.get_cell(0).get("outputs"), timeout=20)
        await task.cancel()
        text = "t 0\nt 1\nt 2\n"
        await eventually(
            lambda: "".join(o["text"] for o in ada.notebook.get_cell(0)["outputs"]) == text
        )
        await eventually(lambda: ada.notebook.get_cell(0).get("execution_count") is not None)
    await asyncio.sleep(0)
