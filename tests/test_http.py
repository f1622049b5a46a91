"""The HTTP face of /mcp as the MCP specification and Jupyter's settings have it: 401 for
missing or wrong credentials on every method, Origin checks and CORS by Jupyter's
allow_origin, streams that answer at once, clear 4xx for requests it will not take."""

import json
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from .conftest import INIT, MCP_HEADERS, call, client_for, wire
from .servers import Server, running_server

APP = "https://agents.example.org"


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("token", [None, "wrong"])
def test_missing_or_wrong_credentials_get_401_saying_what_to_send(
    server: Server, method: str, token: str | None
) -> None:
    headers = MCP_HEADERS | ({"Authorization": f"token {token}"} if token else {})
    response = httpx.request(
        method, server.mcp_url, json=INIT if method == "POST" else None, headers=headers
    )
    assert response.status_code == 401, response.text
    assert "Authorization: token <token>" in response.json()["error"]["message"]


def test_a_foreign_origin_is_refused_even_with_the_token(server: Server) -> None:
    headers = MCP_HEADERS | server.headers | {"Origin": "https://evil.example.com"}
    response = httpx.post(server.mcp_url, json=INIT, headers=headers)
    assert response.status_code == 403
    assert "https://evil.example.com" in response.json()["error"]["message"]
    same_site = MCP_HEADERS | server.headers | {"Origin": f"http://127.0.0.1:{server.port}"}
    assert httpx.post(server.mcp_url, json=INIT, headers=same_site).status_code == 200


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("cors"), f"--ServerApp.allow_origin={APP}") as s:
        yield s


def test_an_allowed_origin_is_served_and_its_preflight_answered(cors_server: Server) -> None:
    preflight = httpx.options(
        cors_server.mcp_url,
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-session-id",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == APP
    assert "mcp-session-id" in preflight.headers["access-control-allow-headers"]
    headers = MCP_HEADERS | cors_server.headers | {"Origin": APP}
    response = httpx.post(cors_server.mcp_url, json=INIT, headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert "mcp-session-id" in response.headers["access-control-expose-headers"]
    foreign = MCP_HEADERS | cors_server.headers | {"Origin": "https://other.example.org"}
    assert httpx.post(cors_server.mcp_url, json=INIT, headers=foreign).status_code == 403


async def test_the_tokenless_opt_in_serves_mcp_without_credentials(tmp_path: Path) -> None:
    with running_server(tmp_path, token=None) as server:
        assert server.headers == {}
        async with client_for(server) as mcp:
            assert isinstance(await call(mcp, "notebook_list"), list)
            foreign = MCP_HEADERS | {"Origin": "https://evil.example.com"}
            async with httpx.AsyncClient() as http:
                refused = await http.post(server.mcp_url, json=INIT, headers=foreign)
            assert refused.status_code == 403


def test_a_stream_sends_its_headers_at_once(server: Server) -> None:
    with httpx.Client(headers=MCP_HEADERS | server.headers, timeout=10) as http:
        session = http.post(server.mcp_url, json=INIT).headers["mcp-session-id"]
        headers = {"mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}
        start = time.monotonic()
        with http.stream("GET", server.mcp_url, headers=headers) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert time.monotonic() - start < 2


async def test_server_info_names_jupyter_mcp_and_its_version(server: Server) -> None:
    async with client_for(server) as mcp:
        info = wire(mcp.initialize_result)["serverInfo"]
    assert info["version"] == version("jupyter-mcp")


def test_an_oversized_request_is_refused_saying_how_to_split_it(server: Server) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "cell_insert",
                "arguments": {"path": "x.ipynb", "source": "é" * 5_000_000},
            },
        }
    )
    headers = MCP_HEADERS | server.headers | {"Content-Type": "application/json"}
    response = httpx.post(server.mcp_url, content=body, headers=headers)
    assert response.status_code == 413
    message = response.json()["error"]["message"]
    assert "max_request_bytes" in message and "several cells" in message


def test_a_batch_gets_a_clear_refusal(server: Server) -> None:
    headers = MCP_HEADERS | server.headers
    response = httpx.post(server.mcp_url, json=[INIT, INIT], headers=headers)
    assert response.status_code == 400
    assert "batches are not supported" in response.json()["error"]["message"]


def test_malformed_params_get_a_4xx_and_the_log_keeps_no_token(server: Server) -> None:
    headers = MCP_HEADERS | {"Content-Type": "application/json"}
    body = {"jsonrpc": "2.0", "id": 3, "method": "initialize", "params": "not an object"}
    response = httpx.post(
        server.mcp_url, params={"token": server.token}, json=body, headers=headers
    )
    assert 400 <= response.status_code < 500, response.text
    assert server.token not in server.log.read_text()
