"""jupyter-mcp beside other extensions: another one serving /mcp, another collaboration
backend, and jupyter-collaboration's progressive loading of large notebooks."""

from pathlib import Path

import httpx
import nbformat

from .conftest import INIT, MCP_HEADERS, call, client_for, eventually
from .servers import Server, running_server

EXTENSIONS = str(Path(__file__).resolve().parent / "extensions")


def _with_extensions(tmp_path: Path, *extensions: str):
    return running_server(
        tmp_path,
        *(f"--ServerApp.jpserver_extensions={e}" for e in extensions),
        env={"PYTHONPATH": EXTENSIONS},
    )


async def _mcp_post(server: Server) -> httpx.Response:
    async with httpx.AsyncClient(headers=server.headers | MCP_HEADERS, timeout=10) as http:
        return await http.post(server.mcp_url, json=INIT)


async def test_another_extension_serving_mcp_is_reported_and_mcp_refuses(
    tmp_path: Path,
) -> None:
    with _with_extensions(tmp_path, "other_mcp=True") as server:
        error = "/mcp is also served by another extension (other_mcp.OtherMCPHandler)"
        await eventually(lambda: error in server.log.read_text())
        response = await _mcp_post(server)
        assert response.status_code == 503
        message = response.json()["error"]["message"]
        assert "jupyter-mcp is disabled on this server" in message
        assert "other_mcp.OtherMCPHandler" in message and "disable" in message
        assert "MCP server 'jupyter' at" not in server.log.read_text()


async def test_another_collaboration_backend_is_reported_and_mcp_refuses(
    tmp_path: Path,
) -> None:
    # As jupyter-server-documents does: jupyter_server_ydoc off, another extension serving the
    # rooms JupyterLab joins.
    with _with_extensions(tmp_path, "jupyter_server_ydoc=False", "other_rooms=True") as server:
        error = "served by other_rooms, not by jupyter_server_ydoc"
        await eventually(lambda: error in server.log.read_text())
        response = await _mcp_post(server)
        assert response.status_code == 503
        assert error in response.json()["error"]["message"]


async def test_no_collaboration_backend_is_reported_and_mcp_refuses(tmp_path: Path) -> None:
    with _with_extensions(tmp_path, "jupyter_server_ydoc=False") as server:
        error = "served by nothing, not by jupyter_server_ydoc"
        await eventually(lambda: error in server.log.read_text())
        assert (await _mcp_post(server)).status_code == 503


async def test_a_progressively_loaded_notebook_is_read_only_once_fully_loaded(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, "--YDocExtension.document_load_progressively=True") as server:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(f"cell {i}", execution_count=i) for i in range(1_000)]
        nb.cells[-1].outputs = [nbformat.v4.new_output("stream", text="x" * 2_000)]
        nbformat.write(nb, server.root / "big.ipynb")
        async with client_for(server) as mcp:
            last = await call(mcp, "cell_get", path="big.ipynb", index=999)
            assert last["source"] == "cell 999"
            assert last["outputs"][0]["text"] == "x" * 2_000
            read = await call(mcp, "notebook_get", path="big.ipynb")
            assert len(read["cells"]) == 1_000
