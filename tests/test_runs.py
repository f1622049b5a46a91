"""Executions belong to the server: they outlive the request that started them (a client
timeout, a cancellation, a dropped connection), can be started without waiting and collected
later, only ever time out or interrupt their own code, and survive the notebook changing."""

import asyncio
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import httpx
import nbformat
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from jupyter_mcp.client import LeanClient

from .collab import Collaborator
from .conftest import (
    call,
    call_error,
    client_for,
    eventually,
    needs_2026_client,
    read_notebook,
    write_notebook,
)
from .kernel_client import KernelChannels, session_kernel
from .servers import Server, running_server

FASTMCP_4 = version("fastmcp").startswith("4.")
# Five seconds of work that leaves a mark each time it runs.
LONG_CELL = """\
import time
with open({marks!r}, "a") as f:
    f.write("ran\\n")
for i in range(5):
    print("step", i, flush=True)
    time.sleep(1)
"done"
"""


pytestmark = pytest.mark.usefixtures("shut_down_kernels")


def long_notebook(server: Server, tmp_path: Path, *more: str) -> tuple[str, Path]:
    marks = tmp_path / "marks.txt"
    return write_notebook(server.root, [LONG_CELL.format(marks=str(marks)), *more]), marks


async def finished_in_document(ada: Collaborator, index: int) -> bool:
    cell = ada.notebook.get_cell(index)
    text = "".join(o.get("text", "") for o in cell.get("outputs", []))
    return cell.get("execution_count") is not None and text.count("step") == 5


def runs_recorded(marks: Path) -> int:
    return marks.read_text().count("ran\n")


def disk_cell(server: Server, path: str, index: int) -> dict:
    return read_notebook(server.root, path)["cells"][index]


async def assert_ran_to_its_end(server: Server, path: str, ada: Collaborator, marks: Path) -> None:
    await eventually(lambda: finished_in_document(ada, 0), timeout=15)
    cell = ada.notebook.get_cell(0)
    assert cell["outputs"][-1]["data"]["text/plain"] == "'done'"
    assert ada.notebook.ycells[0].get("execution_state") == "idle"
    await eventually(lambda: disk_cell(server, path, 0)["execution_count"] == 1, timeout=10)
    assert disk_cell(server, path, 0)["outputs"] == cell["outputs"]
    # The kernel's queue was held until it replied: the next run works, and runs once.
    async with client_for(server) as mcp:
        after = await call(mcp, "cell_execute", path=path, index=1)
    assert after["status"] == "ok" and after["execution_count"] == 2
    assert runs_recorded(marks) == 1


async def test_a_client_that_gives_up_leaves_the_cell_running_to_its_end(
    server: Server, tmp_path: Path
) -> None:
    path, marks = long_notebook(server, tmp_path, "1 + 1")
    async with Collaborator(server, path) as ada, client_for(server) as mcp:
        with pytest.raises(Exception, match=r"(?i)time"):
            await mcp.call_tool("cell_execute", {"path": path, "index": 0}, timeout=1.5)
        await assert_ran_to_its_end(server, path, ada, marks)


@needs_2026_client
async def test_a_2026_client_that_gives_up_leaves_the_cell_running_to_its_end(
    server: Server, tmp_path: Path
) -> None:
    # In the 2026-07-28 protocol a client gives up by closing the call's HTTP stream, which
    # cancels the tool's task on the server.
    path, marks = long_notebook(server, tmp_path, "1 + 1")
    transport = StreamableHttpTransport(server.mcp_url, headers=server.headers)
    async with Collaborator(server, path) as ada, Client(transport, mode="auto") as mcp:
        with pytest.raises(Exception, match=r"(?i)time"):
            await mcp.call_tool("cell_execute", {"path": path, "index": 0}, timeout=1.5)
        await assert_ran_to_its_end(server, path, ada, marks)


async def lean_session(server: Server) -> LeanClient:
    return await LeanClient(server.mcp_url, server.headers).__aenter__()


def tool_call(request_id: int, tool: str, **arguments: object) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


async def test_a_cancelled_call_leaves_the_cell_running_to_its_end(
    server: Server, tmp_path: Path
) -> None:
    path, marks = long_notebook(server, tmp_path, "1 + 1")
    async with Collaborator(server, path) as ada:
        mcp = await lean_session(server)
        try:
            body = tool_call(7, "cell_execute", path=path, index=0)
            async with mcp.http.stream("POST", mcp.url, json=body) as response:
                assert response.status_code == 200
                await eventually(lambda: ada.notebook.get_cell(0).get("outputs"))
                cancel = {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": 7, "reason": "the user pressed Esc"},
                }
                async with httpx.AsyncClient(headers=mcp.http.headers) as other:
                    assert (await other.post(mcp.url, json=cancel)).status_code in (200, 202)
        finally:
            await mcp.__aexit__()
        await assert_ran_to_its_end(server, path, ada, marks)


async def test_a_dropped_connection_leaves_the_cell_running_to_its_end(
    server: Server, tmp_path: Path
) -> None:
    path, marks = long_notebook(server, tmp_path, "1 + 1")
    async with Collaborator(server, path) as ada:
        mcp = await lean_session(server)
        body = tool_call(3, "cell_execute", path=path, index=0)
        async with mcp.http.stream("POST", mcp.url, json=body) as response:
            assert response.status_code == 200
            await eventually(lambda: ada.notebook.get_cell(0).get("outputs"))
        await mcp.http.aclose()  # the connection goes away mid-call, without a word
        await assert_ran_to_its_end(server, path, ada, marks)


async def test_wait_false_then_execution_wait_collects_the_result(
    server: Server, mcp: Client, tmp_path: Path
) -> None:
    path, marks = long_notebook(server, tmp_path, "1 + 1")
    started = await call(mcp, "cell_execute", path=path, index=0, wait=False)
    assert started["status"] in ("queued", "running") and started["index"] == 0  # not waited
    execution_id = started["execution_id"]

    await asyncio.sleep(2)
    partial = await call(mcp, "execution_wait", execution_id=execution_id, timeout=0.5)
    assert partial["status"] == "running" and partial["cell_id"] == started["cell_id"]
    assert "step 0" in "".join(o["text"] for o in partial["outputs_so_far"])
    assert partial["elapsed"] >= 2

    listed = await call(mcp, "execution_list", path=path)
    assert [(r["execution_id"], r["status"]) for r in listed] == [(execution_id, "running")]

    final = await call(mcp, "execution_wait", execution_id=execution_id, timeout=30)
    assert final["status"] == "ok" and final["execution_count"] == 1
    assert final["outputs"][-1]["data"]["text/plain"] == "'done'"
    again = await call(mcp, "execution_wait", execution_id=execution_id, timeout=0)
    assert again == final
    assert (await call(mcp, "execution_list"))[0]["status"] == "ok"
    assert runs_recorded(marks) == 1


async def test_notebook_execute_without_waiting(server: Server, mcp: Client) -> None:
    path = write_notebook(
        server.root, ["a = 1", "import time; time.sleep(4); b = a + 1", "print(a + b)"]
    )
    started = await call(mcp, "notebook_execute", path=path, wait=False)
    assert [c["index"] for c in started["cells"]] == [0, 1, 2]
    execution_id = started["execution_id"]

    async def at_the_second_cell() -> dict | None:
        partial = await call(mcp, "execution_wait", execution_id=execution_id, timeout=0.2)
        return partial if partial["index"] == 1 else None

    partial = await eventually(at_the_second_cell, timeout=30)  # the kernel starts first
    assert partial["status"] == "running"
    assert [c["status"] for c in partial["cells"]] == ["ok"]
    final = await call(mcp, "execution_wait", execution_id=execution_id, timeout=30)
    assert final["status"] == "ok"
    assert [c["status"] for c in final["cells"]] == ["ok", "ok", "ok"]
    assert final["cells"][2]["outputs"][0]["text"] == "3\n"


async def test_kernel_interrupt_stops_a_run_started_without_waiting(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["import time\nprint('begun', flush=True)\ntime.sleep(60)"])
    started = await call(mcp, "cell_execute", path=path, index=0, wait=False)

    async def running() -> bool:
        wait = await call(mcp, "execution_wait", execution_id=started["execution_id"], timeout=0)
        return wait["status"] == "running" and wait["outputs_so_far"]

    await eventually(running, timeout=20)
    assert (await call(mcp, "kernel_interrupt", path=path))["interrupted"] is True
    final = await call(mcp, "execution_wait", execution_id=started["execution_id"], timeout=10)
    assert final["status"] == "error" and final["error"]["ename"] == "KeyboardInterrupt"


async def test_unknown_execution_id_says_so(mcp: Client) -> None:
    message = await call_error(mcp, "execution_wait", execution_id="no-such-run")
    assert "No execution 'no-such-run'" in message and "execution_list" in message


async def test_notebook_execute_reports_progress_inside_a_long_cell(server: Server) -> None:
    code = "import time\nfor i in range(4):\n    print('tick', i, flush=True); time.sleep(1)"
    path = write_notebook(server.root, ["x = 1", code])
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with client_for(server) as client:
        result = await client.call_tool(
            "notebook_execute", {"path": path}, progress_handler=on_progress
        )
    assert result.structured_content["status"] == "ok"
    inside = [m for m in messages if "cell 2/2" in m and "running" in m]
    assert len(inside) >= 2, messages
    assert any("tick" in m for m in inside), messages
    assert all(result.structured_content["execution_id"] in m for m in messages)


async def test_notebook_execute_returns_images_as_image_content(
    server: Server, mcp: Client
) -> None:
    plot = "import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
    plot += "%matplotlib inline\nplt.plot([1, 3, 2])\nplt.show()"
    path = write_notebook(server.root, ["x = 1", plot])
    result = await mcp.call_tool("notebook_execute", {"path": path})
    images = [c for c in result.content if c.type == "image"]
    assert len(images) == 1
    png = result.structured_content["cells"][1]["outputs"][0]["data"]["image/png"]
    assert png == "<image/png returned as image content #1>"


async def test_a_persons_long_cell_is_not_interrupted_by_an_agents_timeout(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["print('agent', flush=True)"])
    kernel_id = await session_kernel(server, path)
    async with KernelChannels(server, kernel_id) as lab:
        code = "import time\nprint('person starts', flush=True)\ntime.sleep(5)\nprint('done')"
        persons = await lab.execute(code)
        await eventually(lambda: "person starts" in next(iter(lab.streams.values())))
        start = time.monotonic()
        agents = await call(mcp, "cell_execute", path=path, index=0, timeout=2)
        # The agent's two seconds began when the kernel reached its cell, after the person's.
        assert agents["status"] == "ok", agents
        assert agents["outputs"][0]["text"] == "agent\n"
        assert time.monotonic() - start > 3
        reply = await asyncio.wait_for(persons, 5)
        assert reply["status"] == "ok"
        assert next(iter(lab.streams.values())) == "person starts\ndone\n"


async def test_a_restart_through_the_rest_api_ends_the_run_as_died(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["import time\nprint('begun', flush=True)\ntime.sleep(60)"])
    running = asyncio.create_task(call(mcp, "cell_execute", path=path, index=0))
    async with Collaborator(server, path) as ada:
        await eventually(lambda: ada.notebook.get_cell(0).get("outputs"), timeout=20)
        [session] = [
            s
            for s in (
                await httpx.AsyncClient(headers=server.headers).get(server.url + "api/sessions")
            ).json()
            if s["path"] == path
        ]
        async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
            response = await http.post(f"api/kernels/{session['kernel']['id']}/restart")
            assert response.status_code == 200
        result = await asyncio.wait_for(running, 10)  # not the cell's 60 s
        assert result["status"] == "died" and result["outputs"][0]["text"] == "begun\n"
        await eventually(lambda: ada.notebook.ycells[0].get("execution_state") == "idle")
    after = await call(mcp, "cell_execute", path=path, index=0, timeout=1)
    assert after["status"] == "timeout"  # the restarted kernel runs the next call


async def test_kernel_restart_tool_during_a_run_keeps_the_session(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["import time\ntime.sleep(60)", "21 * 2"])
    running = asyncio.create_task(call(mcp, "cell_execute", path=path, index=0))
    await eventually(lambda: call(mcp, "execution_list", path=path), timeout=10)

    async def is_running() -> bool:
        return (await call(mcp, "execution_list", path=path))[0]["status"] == "running"

    await eventually(is_running, timeout=20)
    assert (await call(mcp, "kernel_restart", path=path))["restarted"] is True
    assert (await asyncio.wait_for(running, 10))["status"] == "died"
    after = await call(mcp, "cell_execute", path=path, index=1)
    assert after["status"] == "ok" and after["outputs"][0]["data"]["text/plain"] == "42"


async def test_blank_cells_are_not_sent_to_the_kernel(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["x = 1", "   \n\n", "x + 1"])
    blank = await call(mcp, "cell_execute", path=path, index=1)
    assert blank["status"] == "skipped" and "blank" in blank["note"]
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
        assert not [s for s in (await http.get("api/sessions")).json() if s["path"] == path]
    ran = await call(mcp, "notebook_execute", path=path)
    assert [c["status"] for c in ran["cells"]] == ["ok", "skipped", "ok"]
    assert [c["execution_count"] for c in ran["cells"]] == [1, None, 2]


@pytest.mark.parametrize("timeout", ["NaN", "Infinity", "-1", "0"])
async def test_timeouts_that_are_not_positive_numbers_are_refused(
    server: Server, timeout: str
) -> None:
    path = write_notebook(server.root, ["1"])
    mcp = await lean_session(server)
    try:
        # JSON as a client may send it: NaN and Infinity are what JavaScript and Python emit.
        body = json.dumps(tool_call(1, "cell_execute", path=path, index=0, timeout=0))
        body = body.replace('"timeout": 0', f'"timeout": {timeout}')
        response = await mcp.http.post(
            mcp.url, content=body, headers={"content-type": "application/json"}
        )
        message = next(line for line in response.text.splitlines() if line.startswith("data:"))
        result = json.loads(message[5:])["result"]
        if timeout in ("NaN", "Infinity") and not FASTMCP_4:
            # mcp 1 turns NaN and Infinity into null on the way in: the default timeout applies.
            assert not result.get("isError") and result["structuredContent"]["status"] == "ok"
            return
        assert result.get("isError"), result
        assert "positive, finite number" in result["content"][0]["text"], result
    finally:
        await mcp.__aexit__()


async def test_a_deleted_running_cell_keeps_its_outputs_and_the_run_goes_on(
    server: Server, mcp: Client
) -> None:
    code = "import time\nfor i in range(3):\n    print('t', i, flush=True); time.sleep(0.7)"
    path = write_notebook(server.root, [code, "print('after')"])
    async with Collaborator(server, path) as ada:
        running = asyncio.create_task(call(mcp, "notebook_execute", path=path))
        await eventually(lambda: ada.notebook.get_cell(0).get("outputs"), timeout=20)
        async with client_for(server) as person:
            await call(person, "cell_delete", path=path, index=0)
        result = await asyncio.wait_for(running, 20)
        assert [c["status"] for c in result["cells"]] == ["ok", "ok"]
        deleted, after = result["cells"]
        assert deleted["index"] is None and "".join(o["text"] for o in deleted["outputs"]) == (
            "t 0\nt 1\nt 2\n"
        )
        assert after["index"] == 0 and after["outputs"][0]["text"] == "after\n"
        assert ada.notebook.get_cell(0)["outputs"][0]["text"] == "after\n"


# Prints four lines in 2.4 s: long enough to change the notebook while it runs.
TICKS = "import time\nfor i in range(4):\n    print('t', i, flush=True); time.sleep(0.6)"


async def test_a_running_cell_turned_markdown_gets_no_more_outputs(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, [TICKS])
    running = asyncio.create_task(call(mcp, "cell_execute", path=path, index=0))
    async with Collaborator(server, path) as ada:
        await eventually(lambda: ada.notebook.get_cell(0).get("outputs"), timeout=20)
        async with client_for(server) as person:
            await call(
                person, "cell_update", path=path, index=0, source="# notes", cell_type="markdown"
            )
        result = await asyncio.wait_for(running, 20)
        assert result["status"] == "ok" and len(result["outputs"]) == 1
        cell = ada.notebook.get_cell(0)
        assert cell["cell_type"] == "markdown" and "outputs" not in cell
    await asyncio.sleep(1.5)  # autosave
    nbformat.validate(nbformat.read(server.root / path, as_version=4))


async def test_a_rename_during_a_run_keeps_writing_into_the_same_notebook(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, [TICKS])
    running = asyncio.create_task(call(mcp, "cell_execute", path=path, index=0))
    async with Collaborator(server, path) as ada:
        await eventually(lambda: ada.notebook.get_cell(0).get("outputs"), timeout=20)
        async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
            response = await http.patch(f"api/contents/{path}", json={"path": "renamed-" + path})
            assert response.status_code == 200
        result = await asyncio.wait_for(running, 20)
        assert result["status"] == "ok"
        text = "".join(f"t {i}\n" for i in range(4))
        await eventually(
            lambda: "".join(o["text"] for o in ada.notebook.get_cell(0)["outputs"]) == text
        )
        await eventually(lambda: disk_cell(server, "renamed-" + path, 0)["execution_count"] == 1)
    rows = await call(mcp, "room_list")
    assert not [r for r in rows if r["path"] == path]  # no room for the old path
    assert (await call(mcp, "execution_list"))[0]["path"] == "renamed-" + path


async def test_a_notebook_of_a_kernel_not_installed_is_refused(server: Server, mcp: Client) -> None:
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}}
    )
    nb.cells = [nbformat.v4.new_code_cell("1 + 1")]
    (server.root / "r.ipynb").write_text(nbformat.writes(nb))
    message = await call_error(mcp, "cell_execute", path="r.ipynb", index=0)
    assert "'ir' is not installed" in message and "python3" in message
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
        assert not [s for s in (await http.get("api/sessions")).json() if s["path"] == "r.ipynb"]


@pytest.fixture(scope="module")
def silent_kernel_server(tmp_path_factory: pytest.TempPathFactory):
    """A server with a kernelspec whose kernel never answers, and a short ready timeout."""
    home = tmp_path_factory.mktemp("silent")
    spec = home / "data" / "kernels" / "silent"
    spec.mkdir(parents=True)
    spec.joinpath("kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-c", "import time; time.sleep(600)", "{connection_file}"],
                "display_name": "Silent",
                "language": "python",
            }
        )
    )
    with running_server(home, "--MCPExtension.kernel_ready_timeout=3") as server:
        yield server


async def test_a_kernel_that_never_answers_gives_a_clear_error_in_bounded_time(
    silent_kernel_server: Server,
) -> None:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "silent", "display_name": "S"}})
    nb.cells = [nbformat.v4.new_code_cell("1 + 1")]
    (silent_kernel_server.root / "silent.ipynb").write_text(nbformat.writes(nb))
    async with client_for(silent_kernel_server) as mcp:
        start = time.monotonic()
        message = await call_error(mcp, "cell_execute", path="silent.ipynb", index=0)
        assert time.monotonic() - start < 15
        assert "did not answer within 3 s" in message and "kernel_restart" in message


async def test_the_first_call_after_a_kernel_killed_itself_works(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["import os\nos._exit(1)", "6 * 7"])
    died = await call(mcp, "cell_execute", path=path, index=0)
    assert died["status"] == "died"
    start = time.monotonic()
    after = await call(mcp, "cell_execute", path=path, index=1)  # Jupyter restarts the kernel
    assert after["status"] == "ok" and after["outputs"][0]["data"]["text/plain"] == "42"
    assert time.monotonic() - start < 15
