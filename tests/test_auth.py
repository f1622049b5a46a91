"""/mcp is behind Jupyter's own authentication, at <base_url>mcp."""

from pathlib import Path

import httpx
import pytest

from .conftest import INIT, MCP_HEADERS, call, call_error, client_for, disk_sources, write_notebook
from .servers import Server, running_server


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_anonymous_requests_are_refused_without_redirect(server: Server, method: str) -> None:
    response = httpx.request(
        method, server.mcp_url, json=INIT if method == "POST" else None, headers=MCP_HEADERS
    )
    assert response.status_code in (401, 403)
    assert "location" not in response.headers


def test_wrong_token_is_refused(server: Server) -> None:
    headers = MCP_HEADERS | {"Authorization": "token wrong"}
    for method in ("GET", "POST"):
        response = httpx.request(method, server.mcp_url, json=INIT, headers=headers)
        assert response.status_code in (401, 403)


def test_token_header_opens_a_session(server: Server) -> None:
    response = httpx.post(server.mcp_url, json=INIT, headers=MCP_HEADERS | server.headers)
    assert response.status_code == 200
    assert response.headers["mcp-session-id"]
    assert '"serverInfo"' in response.text


def test_token_query_parameter_opens_a_session(server: Server) -> None:
    response = httpx.post(
        server.mcp_url, params={"token": server.token}, json=INIT, headers=MCP_HEADERS
    )
    assert response.status_code == 200
    assert response.headers["mcp-session-id"]


def test_malformed_json_rpc_gets_an_error_not_a_crash(server: Server) -> None:
    response = httpx.post(
        server.mcp_url,
        content=b"{not json",
        headers=MCP_HEADERS | server.headers | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "error" in response.json()
    healthy = httpx.post(server.mcp_url, json=INIT, headers=MCP_HEADERS | server.headers)
    assert healthy.status_code == 200


async def test_served_under_a_non_root_base_url(tmp_path) -> None:
    with running_server(tmp_path, base_url="/prefix/x/") as server:
        assert server.mcp_url.endswith("/prefix/x/mcp")
        root_mcp = f"http://127.0.0.1:{server.port}/mcp"
        async with httpx.AsyncClient(headers=MCP_HEADERS) as http:
            anonymous = await http.post(server.mcp_url, json=INIT)
            assert anonymous.status_code in (401, 403)
            outside_base = await http.post(root_mcp, json=INIT, headers=server.headers)
            assert outside_base.status_code == 404
        async with client_for(server) as client:
            assert await client.ping()
            assert await call(client, "notebook_list") == []


def _authorized_server(tmp_path: Path, authorizer: str):
    repo = str(Path(__file__).resolve().parents[1])
    return running_server(
        tmp_path,
        f"--ServerApp.authorizer_class=tests.authorizers.{authorizer}",
        env={"PYTHONPATH": repo},
    )


async def test_users_who_may_not_run_code_cannot_execute(tmp_path: Path) -> None:
    with _authorized_server(tmp_path, "NoKernels") as server:
        path = write_notebook(server.root, ["print('should not run')"])
        async with client_for(server) as mcp:
            assert (await call(mcp, "cell_get", path=path, index=0))["source"]
            await call(mcp, "cell_insert", path=path, source="editing is allowed")
            for tool in ("cell_execute", "notebook_execute", "kernel_restart"):
                arguments = {"path": path} | ({"index": 0} if tool == "cell_execute" else {})
                message = await call_error(mcp, tool, **arguments)
                assert "not authorized to execute kernels" in message
            run_new = await call_error(mcp, "cell_insert", path=path, source="1", execute=True)
            assert "not authorized to execute kernels" in run_new
        async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
            assert (await http.get("api/sessions")).json() == []


async def test_read_only_users_cannot_edit(tmp_path: Path) -> None:
    with _authorized_server(tmp_path, "ReadOnly") as server:
        path = write_notebook(server.root, ["keep"])
        async with client_for(server) as mcp:
            assert [c["source"] for c in (await call(mcp, "notebook_get", path=path))["cells"]]
            for tool, arguments in [
                ("cell_update", {"index": 0, "source": "changed"}),
                ("cell_insert", {"source": "added"}),
                ("cell_delete", {"index": 0}),
            ]:
                message = await call_error(mcp, tool, path=path, **arguments)
                assert "not authorized to write contents" in message
            message = await call_error(mcp, "notebook_create", path="new.ipynb")
            assert "not authorized to write contents" in message
            assert [c["source"] for c in (await call(mcp, "notebook_get", path=path))["cells"]] == [
                "keep"
            ]
        assert disk_sources(server.root, path) == ["keep"]
        assert not (server.root / "new.ipynb").exists()


async def test_plain_jupyter_lab_takes_the_token_file_without_its_newline(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    env = {"JUPYTER_TOKEN_FILE": str(token_file)}
    with running_server(tmp_path, token="from-a-file", env=env) as server:
        async with httpx.AsyncClient(headers=MCP_HEADERS) as http:
            assert (await http.post(server.mcp_url, json=INIT)).status_code in (401, 403)
            response = await http.post(server.mcp_url, json=INIT, headers=server.headers)
            assert response.status_code == 200
