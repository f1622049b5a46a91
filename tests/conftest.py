import asyncio
import inspect
import itertools
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from .servers import Server, running_server

_names = itertools.count()
_skipped_in_ci: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # In CI a required test that skips is a failure; only `may_skip` tests may skip there.
    if report.skipped and os.environ.get("CI") == "true" and "may_skip" not in report.keywords:
        _skipped_in_ci.append(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped_in_ci:
        print("\nRequired tests skipped in CI:\n" + "\n".join(_skipped_in_ci))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# A raw MCP initialize request, for tests of the HTTP face below any client.
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("server")) as s:
        yield s


# Clients that know the stateless 2026 protocol era choose it with `mode`; older ones
# speak only the initialize handshake.
CLIENT_HAS_ERAS = "mode" in inspect.signature(Client.__init__).parameters


def needs_2026_client(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run `test` only with a client of the 2026 protocol era (fastmcp 4). fastmcp 3, the
    generation nixpkgs ships, has none: there the test may skip, even in CI."""
    if CLIENT_HAS_ERAS:
        return test
    reason = "fastmcp 3 neither speaks nor serves the 2026-07-28 protocol revision"
    return pytest.mark.may_skip(pytest.mark.skip(reason=reason)(test))


def client_for(server: Server, headers: dict[str, str] | None = None) -> Client:
    transport = StreamableHttpTransport(
        server.mcp_url, headers=server.headers if headers is None else headers
    )
    # "legacy" is the initialize handshake that today's MCP clients (Claude Code, VS Code,
    # Cursor) speak; test_protocol covers the stateless 2026 era separately.
    era = {"mode": "legacy"} if CLIENT_HAS_ERAS else {}
    return Client(transport, timeout=60, **era)


@pytest.fixture
async def shut_down_kernels(server: Server) -> AsyncIterator[None]:
    """Leave no kernel running after the test (for modules that run code)."""
    yield
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
        for session in (await http.get("api/sessions")).json():
            await http.delete(f"api/sessions/{session['id']}")


@pytest.fixture
async def mcp(server: Server) -> AsyncIterator[Client]:
    async with client_for(server) as client:
        yield client


def wire(model: Any) -> dict[str, Any]:
    """An MCP type as it travels on the wire (camelCase names), whichever generation of the
    mcp SDK the client is built on: mcp 2 names attributes in snake_case, mcp 1 in camelCase."""
    return model.model_dump(by_alias=True, exclude_none=True)


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """Call a tool that must succeed; return its structured result."""
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    assert not result.is_error, f"{tool} failed: {result.content[0].text}"
    data = result.structured_content
    if isinstance(data, dict) and set(data) == {"result"}:
        return data["result"]
    return data


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail; return its error message."""
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    assert result.is_error, f"{tool} should have failed but returned {result.structured_content}"
    return result.content[0].text


async def eventually(check: Callable[[], Any], timeout: float = 10, interval: float = 0.05) -> Any:
    """Wait until `check()` returns something truthy (or an awaitable of it); return that."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
        except ValueError:
            # Jupyter saves a notebook by writing it in place (after a backup copy), so a
            # reader can meet a half-written file: not yet.
            if asyncio.get_running_loop().time() > deadline:
                raise
            value = None
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)


def write_notebook(root: Path, sources: list[str], name: str | None = None) -> str:
    """Write a notebook file directly (no room exists for it yet); return its path."""
    path = name or f"nb{next(_names)}.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(nbformat.writes(nb))
    return path


def read_notebook(root: Path, path: str) -> dict[str, Any]:
    """The notebook file as nbformat reads it (sources joined into strings)."""
    return json.loads(json.dumps(nbformat.read(root / path, as_version=4)))


def disk_sources(root: Path, path: str) -> list[str]:
    return ["".join(cell["source"]) for cell in read_notebook(root, path)["cells"]]


@pytest.fixture
def notebook(server: Server) -> str:
    return write_notebook(server.root, ["a = 1", "b = 2", "print(a + b)"])
