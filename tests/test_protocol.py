"""The MCP protocol surface: ping, the documented tool set, both protocol eras."""

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from .conftest import CLIENT_HAS_ERAS, call
from .servers import Server

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
}


async def test_ping(mcp: Client) -> None:
    assert await mcp.ping()


async def test_tools_list_holds_exactly_the_documented_tools(mcp: Client) -> None:
    tools = await mcp.list_tools()
    assert {tool.name for tool in tools} == DOCUMENTED_TOOLS
    for tool in tools:
        assert tool.description and len(tool.description) > 40, tool.name


@pytest.mark.may_skip
@pytest.mark.skipif(not CLIENT_HAS_ERAS, reason="this fastmcp client predates the 2026 era")
async def test_stateless_2026_protocol_lists_and_calls_tools(server: Server) -> None:
    transport = StreamableHttpTransport(server.mcp_url, headers=server.headers)
    async with Client(transport, mode="auto") as client:
        assert {tool.name for tool in await client.list_tools()} == DOCUMENTED_TOOLS
        assert isinstance(await call(client, "notebook_list"), list)


async def test_tools_declare_what_they_do_for_approval(mcp: Client) -> None:
    hints = {tool.name: tool.annotations for tool in await mcp.list_tools()}
    read_only = {name for name, h in hints.items() if h and h.read_only_hint}
    assert read_only == {
        "notebook_list", "notebook_get", "notebook_watch", "notebook_list_users", "cell_get",
        "room_list",
    }  # fmt: skip
    destructive = {name for name, h in hints.items() if h and h.destructive_hint}
    assert destructive == {
        "cell_update", "cell_delete", "kernel_restart", "cell_execute", "notebook_execute"
    }  # fmt: skip
    assert hints["cell_execute"].open_world_hint is True
    assert hints["cell_insert"].destructive_hint is False
