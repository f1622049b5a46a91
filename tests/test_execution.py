"""Execution in the notebook's own kernel, streamed into the live document."""

import asyncio
import os
import signal
import time

import httpx
import pytest
from fastmcp import Client

from .collab import Collaborator
from .conftest import call, client_for, eventually, read_notebook, wire, write_notebook
from .servers import Server

pytestmark = pytest.mark.usefixtures("shut_down_kernels")


async def sessions(server: Server, path: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
        return [s for s in (await http.get("api/sessions")).json() if s["path"] == path]


async def execute(mcp: Client, **arguments):
    result = await mcp.call_tool("cell_execute", arguments, raise_on_error=False)
    assert not result.is_error, result.content[0].text
    return result


def live_outputs(collaborator: Collaborator, index: int) -> list[dict]:
    return collaborator.notebook.get_cell(index).get("outputs", [])


CELL = """\
import sys
print("to stdout")
print("to stderr", file=sys.stderr)
from IPython.display import display, Markdown
display(Markdown("**shown**"))
6 * 7"""


async def test_outputs_reach_result_collaborator_and_disk(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, [CELL, "raise ValueError('bad value')"])
    async with Collaborator(server, path) as ada:
        result = await execute(mcp, path=path, index=0)
        data = result.structured_content
        assert data["status"] == "ok" and data["execution_count"] == 1
        kinds = [(o["output_type"], o.get("name")) for o in data["outputs"]]
        assert kinds == [
            ("stream", "stdout"), ("stream", "stderr"), ("display_data", None),
            ("execute_result", None),
        ]  # fmt: skip
        assert data["outputs"][3]["data"]["text/plain"] == "42"
        await eventually(lambda: live_outputs(ada, 0) == data["outputs"])
        assert ada.notebook.get_cell(0)["execution_count"] == 1

        failed = (await execute(mcp, path=path, index=1)).structured_content
        assert failed["status"] == "error"
        assert failed["error"]["ename"] == "ValueError" and failed["error"]["evalue"] == "bad value"
        assert "\x1b[" not in failed["error"]["traceback"]
        await eventually(
            lambda: live_outputs(ada, 1) and live_outputs(ada, 1)[0]["ename"] == "ValueError"
        )

        def saved() -> bool:
            cells = read_notebook(server.root, path)["cells"]
            return cells[0]["outputs"] == data["outputs"] and cells[1]["outputs"]

        await eventually(saved)


async def test_matplotlib_png_is_image_content_and_in_the_cell(server: Server, mcp: Client) -> None:
    code = "import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
    code += "%matplotlib inline\nplt.plot([1, 3, 2])\nplt.show()"
    path = write_notebook(server.root, [code])
    async with Collaborator(server, path) as ada:
        result = await execute(mcp, path=path, index=0)
        images = [wire(c) for c in result.content if c.type == "image"]
        assert len(images) == 1 and images[0]["mimeType"] == "image/png"
        assert images[0]["data"].startswith("iVBORw0KGgo")  # base64 of the PNG signature
        await eventually(
            lambda: any("image/png" in o.get("data", {}) for o in live_outputs(ada, 0))
        )
        png = next(o for o in live_outputs(ada, 0) if "image/png" in o.get("data", {}))
        assert png["data"]["image/png"].replace("\n", "") == images[0]["data"]


async def test_jupyterlab_session_request_reuses_the_kernel(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["import os; os.getpid()"])
    result = await execute(mcp, path=path, index=0)
    [session] = await sessions(server, path)
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
        response = await http.post(
            "api/sessions",
            json={"path": path, "type": "notebook", "name": path, "kernel": {"name": "python3"}},
        )
    assert response.status_code in (200, 201)
    assert response.json()["kernel"]["id"] == session["kernel"]["id"]
    assert result.structured_content["status"] == "ok"


async def test_concurrent_first_executions_start_one_kernel(server: Server) -> None:
    path = write_notebook(server.root, ["a = 1", "b = 2", "c = 3"])

    async def run(index: int) -> dict:
        async with client_for(server) as client:
            return (await execute(client, path=path, index=index)).structured_content

    results = await asyncio.gather(*(run(i) for i in range(3)))
    assert [r["status"] for r in results] == ["ok"] * 3
    assert sorted(r["execution_count"] for r in results) == [1, 2, 3]  # one kernel, queued
    assert len(await sessions(server, path)) == 1


async def test_inserts_above_a_running_cell_do_not_misdirect_outputs(
    server: Server, mcp: Client
) -> None:
    code = "import time\nfor i in range(4):\n    print('tick', i, flush=True)\n    time.sleep(0.4)"
    path = write_notebook(server.root, ["x = 0", code])
    async with Collaborator(server, path) as ada:
        cell_id = ada.notebook.get_cell(1)["id"]
        running = asyncio.create_task(execute(mcp, path=path, cell_id=cell_id))
        await eventually(lambda: live_outputs(ada, 1))
        async with client_for(server) as other:
            for n in range(3):
                await call(other, "cell_insert", path=path, index=0, source=f"inserted {n}")
        result = (await running).structured_content
        assert result["index"] == 4  # where the cell is now, three inserts later
        text = "".join(o["text"] for o in result["outputs"])
        assert text == "".join(f"tick {i}\n" for i in range(4))
        cells = [ada.notebook.get_cell(i) for i in range(5)]
        assert cells[4]["id"] == cell_id
        await eventually(lambda: "".join(o["text"] for o in live_outputs(ada, 4)) == text)
        assert all(not c.get("outputs") for c in cells[:4])


async def test_executions_on_one_kernel_are_queued(server: Server) -> None:
    path = write_notebook(
        server.root,
        ["import time\nfor i in range(3):\n    print('A', i, flush=True); time.sleep(0.2)",
         "for i in range(3):\n    print('B', i, flush=True)"],
    )  # fmt: skip

    async def run(index: int) -> dict:
        async with client_for(server) as client:
            return (await execute(client, path=path, index=index)).structured_content

    first, second = await asyncio.gather(run(0), run(1))
    assert "".join(o["text"] for o in first["outputs"]) == "A 0\nA 1\nA 2\n"
    assert "".join(o["text"] for o in second["outputs"]) == "B 0\nB 1\nB 2\n"


async def test_large_output_is_cut_in_the_result_not_in_the_document(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["print('x' * 1_000_000)"])
    async with Collaborator(server, path) as ada:
        result = (await execute(mcp, path=path, index=0)).structured_content
        text = result["outputs"][0]["text"]
        assert len(text) < 25_000
        assert "characters cut" in text and "the cell in the notebook has the full output" in text
        await eventually(lambda: len(live_outputs(ada, 0)[0]["text"]) == 1_000_001, timeout=20)


async def test_clear_output_and_update_display_are_honoured(server: Server, mcp: Client) -> None:
    code = """\
from IPython.display import display, clear_output
print("gone")
clear_output()
handle = display("first", display_id=True)
print("kept")
handle.update("second")"""
    path = write_notebook(server.root, [code])
    async with Collaborator(server, path) as ada:
        result = (await execute(mcp, path=path, index=0)).structured_content
        assert [o["output_type"] for o in result["outputs"]] == ["display_data", "stream"]
        assert result["outputs"][0]["data"]["text/plain"] == "'second'"
        assert result["outputs"][1]["text"] == "kept\n"
        await eventually(lambda: live_outputs(ada, 0) == result["outputs"])


async def test_timeout_interrupts_and_the_kernel_keeps_working(server: Server, mcp: Client) -> None:
    path = write_notebook(
        server.root, ["print('started', flush=True)\nimport time\ntime.sleep(30)", "1 + 1"]
    )
    await execute(mcp, path=path, index=1)  # the kernel is warm
    start = time.monotonic()
    result = (await execute(mcp, path=path, index=0, timeout=1)).structured_content
    assert time.monotonic() - start < 3
    assert result["status"] == "timeout"
    assert result["outputs"][0]["text"] == "started\n"  # partial outputs kept
    after = (await execute(mcp, path=path, index=1)).structured_content
    assert after["status"] == "ok" and after["outputs"][0]["data"]["text/plain"] == "2"


async def test_progress_is_reported_during_a_long_cell(server: Server) -> None:
    path = write_notebook(server.root, ["import time\nprint('working', flush=True)\ntime.sleep(3)"])
    reports: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, message))

    async with client_for(server) as client:
        result = await client.call_tool(
            "cell_execute", {"path": path, "index": 0}, progress_handler=on_progress
        )
    assert result.structured_content["status"] == "ok"
    assert len(reports) >= 3, reports
    assert [p for p, _ in reports] == sorted(p for p, _ in reports)
    assert any("working" in (m or "") for _, m in reports)


async def test_kernel_restart_loses_state(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["secret = 42", "secret"])
    await execute(mcp, path=path, index=0)
    assert (await execute(mcp, path=path, index=1)).structured_content["status"] == "ok"
    restarted = await call(mcp, "kernel_restart", path=path)
    assert restarted["restarted"] is True
    after = (await execute(mcp, path=path, index=1)).structured_content
    assert after["status"] == "error" and after["error"]["ename"] == "NameError"


async def test_kernel_interrupt_stops_a_running_cell(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["import time\ntime.sleep(60)"])
    running = asyncio.create_task(execute(mcp, path=path, index=0))
    await eventually(lambda: sessions(server, path))
    await asyncio.sleep(1)
    async with client_for(server) as other:
        assert (await call(other, "kernel_interrupt", path=path))["interrupted"] is True
    result = (await asyncio.wait_for(running, 10)).structured_content
    assert result["status"] == "error" and result["error"]["ename"] == "KeyboardInterrupt"


async def test_kernel_controls_without_a_kernel_say_so(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["x"])
    assert (await call(mcp, "kernel_interrupt", path=path))["interrupted"] is False
    assert "no running kernel" in (await call(mcp, "kernel_restart", path=path))["message"]
    assert await sessions(server, path) == []


async def test_a_kernel_killed_mid_execution_gives_a_clear_error(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["import os; os.getpid()", "import time\ntime.sleep(60)"])
    pid = int(
        (await execute(mcp, path=path, index=0)).structured_content["outputs"][0]["data"][
            "text/plain"
        ]
    )
    async with Collaborator(server, path) as ada:
        running = asyncio.create_task(execute(mcp, path=path, index=1))
        await eventually(lambda: ada.notebook.ycells[1].get("execution_state") == "running")
        start = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        result = (await asyncio.wait_for(running, 15)).structured_content
        assert time.monotonic() - start < 5
        assert result["status"] == "died" and "kernel died" in result["error"]["evalue"]
        await eventually(lambda: ada.notebook.ycells[1].get("execution_state") == "idle")
    assert await call(mcp, "notebook_list")  # the server keeps serving


async def test_notebook_execute_stops_at_the_first_error(server: Server, mcp: Client) -> None:
    path = write_notebook(
        server.root, ["a = 1", "b = a + 1", "raise RuntimeError('third')", "d = 4"]
    )
    result = await mcp.call_tool("notebook_execute", {"path": path})
    data = result.structured_content
    assert data["status"] == "error"
    assert [c["status"] for c in data["cells"]] == ["ok", "ok", "error"]
    assert data["error"]["index"] == 2 and data["error"]["ename"] == "RuntimeError"
    nb = await call(mcp, "notebook_get", path=path)
    assert nb["cells"][3]["execution_count"] is None


async def test_markdown_cells_do_not_run(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["x"])
    await call(mcp, "cell_insert", path=path, source="# Title", cell_type="markdown")
    result = await mcp.call_tool("cell_execute", {"path": path, "index": 1}, raise_on_error=False)
    assert result.is_error and "only code cells run" in result.content[0].text
    assert await sessions(server, path) == []
