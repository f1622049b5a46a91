"""The MCP protocol surface: ping, the documented tool set, both protocol eras, and a client
of one FastMCP generation against a server of the other."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from .conftest import call, needs_2026_client, wire, write_notebook
from .servers import TOKEN, Server, free_port, running_server, server_args

# The nixpkgs dependency set's interpreter (fastmcp 3), which ./run-tests names when it runs
# both sets; a server started with it meets this set's client.
NIXPKGS_PYTHON = os.environ.get("JUPYTER_MCP_NIXPKGS_PYTHON", "")

DOCUMENTED_TOOLS = {
    "notebook_list",
    "notebook_create",
    "notebook_get",
    "notebook_watch",
    "notebook_list_users",
    "cell_get",
    "cell_update",
    "cell_insert",
    "cell_delete",
    "room_list",
    "cell_execute",
    "notebook_execute",
    "kernel_interrupt",
    "kernel_restart",
    "execution_wait",
    "execution_list",
    "cell_edit",
    "cell_move",
    "cell_clear_outputs",
    "notebook_clear_outputs",
    "notebook_search",
    "notebook_changes",
    "kernel_execute",
    "kernelspec_list",
    "notebook_set_kernel",
}


async def test_ping(mcp: Client) -> None:
    assert await mcp.ping()


async def test_tools_list_holds_exactly_the_documented_tools(mcp: Client) -> None:
    tools = await mcp.list_tools()
    assert {tool.name for tool in tools} == DOCUMENTED_TOOLS
    for tool in tools:
        assert tool.description and len(tool.description) > 40, tool.name


@needs_2026_client
async def test_stateless_2026_protocol_lists_and_calls_tools(server: Server) -> None:
    transport = StreamableHttpTransport(server.mcp_url, headers=server.headers)
    async with Client(transport, mode="auto") as client:
        assert {tool.name for tool in await client.list_tools()} == DOCUMENTED_TOOLS
        assert isinstance(await call(client, "notebook_list"), list)


async def test_tools_declare_what_they_do_for_approval(mcp: Client) -> None:
    hints = {tool.name: wire(tool.annotations) for tool in await mcp.list_tools()}
    read_only = {name for name, h in hints.items() if h.get("readOnlyHint")}
    assert read_only == {
        "notebook_list", "notebook_get", "notebook_watch", "notebook_list_users", "cell_get",
        "room_list", "execution_wait", "execution_list", "notebook_search",
        "notebook_changes", "kernelspec_list",
    }  # fmt: skip
    destructive = {name for name, h in hints.items() if h.get("destructiveHint")}
    assert destructive == {
        "cell_update", "cell_delete", "kernel_restart", "cell_execute", "notebook_execute",
        "cell_edit", "cell_move", "cell_clear_outputs", "notebook_clear_outputs",
        "cell_insert",  # with execute=true it runs code
        "kernel_execute", "notebook_set_kernel",
    }  # fmt: skip
    assert hints["cell_execute"]["openWorldHint"] is True
    assert hints["kernel_execute"]["openWorldHint"] is True
    assert hints["cell_insert"]["openWorldHint"] is True
    assert hints["notebook_create"]["destructiveHint"] is False


@pytest.fixture
def fastmcp_3_python() -> str:
    if not NIXPKGS_PYTHON:
        pytest.skip("JUPYTER_MCP_NIXPKGS_PYTHON is not set")
    query = "from importlib.metadata import version; print(version('fastmcp'))"
    version = subprocess.run(
        [NIXPKGS_PYTHON, "-c", query], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert version.startswith("3."), f"{NIXPKGS_PYTHON} has fastmcp {version}, not 3.x"
    return NIXPKGS_PYTHON


@needs_2026_client
async def test_a_2026_client_falls_back_to_the_handshake_on_a_fastmcp_3_server(
    tmp_path: Path, fastmcp_3_python: str
) -> None:
    port, root = free_port(), tmp_path / "root"
    command = [fastmcp_3_python, "-m", "jupyterlab", *server_args(tmp_path, root, port)]
    command += [f"--IdentityProvider.token={TOKEN}", *(["--allow-root"] * (os.geteuid() == 0))]
    with running_server(tmp_path, command=command, port=port, root=root) as server:
        path = write_notebook(server.root, ["x = 1"])
        transport = StreamableHttpTransport(server.mcp_url, headers=server.headers)
        async with Client(transport, mode="auto") as client:
            # No server/discover on fastmcp 3: the client chose the initialize handshake.
            assert client.initialize_result is not None
            assert wire(client.initialize_result)["protocolVersion"] < "2026"
            assert {tool.name for tool in await client.list_tools()} == DOCUMENTED_TOOLS
            await call(client, "cell_insert", path=path, source="y = 2")
            assert (await call(client, "cell_get", path=path, index=1))["source"] == "y = 2"


async def test_schemas_say_what_the_tools_take_and_return(mcp: Client) -> None:
    tools = {tool.name: wire(tool) for tool in await mcp.list_tools()}
    assert [name for name, tool in tools.items() if "outputSchema" not in tool] == []
    update = tools["cell_update"]["inputSchema"]["properties"]
    assert "enum" in json.dumps(update["cell_type"]) and "markdown" in json.dumps(update)
    watch = tools["notebook_watch"]["inputSchema"]["properties"]["timeout"]
    assert watch["maximum"] == 300
    run = tools["cell_execute"]["outputSchema"]
    assert {"execution_id", "status"} <= set(run["required"])
    assert "version" in tools["cell_get"]["outputSchema"]["required"]
