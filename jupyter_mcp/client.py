"""A minimal MCP client: JSON-RPC over one keep-alive HTTP connection, the initialize handshake,
and SSE responses. The checks use it (it depends on httpx only), and the benchmark measures
the server's round trip with it, without a full client library's per-call cost."""

import itertools
import json
from typing import Any

import httpx

PROTOCOL = "2025-06-18"


class MCPError(Exception):
    """The server answered with a JSON-RPC error or a tool error."""


class LeanClient:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.http = httpx.AsyncClient(
            headers=headers | {"Accept": "application/json, text/event-stream"}, timeout=60
        )
        self.ids = itertools.count(1)

    async def __aenter__(self) -> "LeanClient":
        params = {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "lean-bench", "version": "1"},
        }
        response = await self.http.post(
            self.url, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
        )
        response.raise_for_status()
        self.http.headers.update(
            {"mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": PROTOCOL}
        )
        await self.http.post(
            self.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.http.delete(self.url)
        finally:
            await self.http.aclose()

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self.ids), "method": method}
        if params is not None:
            body["params"] = params
        response = await self.http.post(self.url, json=body)
        response.raise_for_status()
        if response.headers["content-type"].startswith("application/json"):
            message = response.json()
        else:
            data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
            message = json.loads(data[-1])
        if "error" in message:
            raise MCPError(message["error"].get("message", message["error"]))
        return message["result"]

    async def ping(self) -> None:
        await self.request("ping")

    async def call(self, tool: str, **arguments: Any) -> Any:
        result = await self.request("tools/call", {"name": tool, "arguments": arguments})
        if result.get("isError"):
            raise MCPError(result["content"][0]["text"])
        data = result.get("structuredContent")
        return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data
