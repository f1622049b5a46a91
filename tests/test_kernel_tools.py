"""Scratch code in the notebook's kernel, the installed kernelspecs, and switching a
notebook's kernel as JupyterLab's kernel picker does."""

import asyncio
import json
import sys
from collections.abc import Iterator

import httpx
import pytest
from fastmcp import Client

from .collab import Collaborator
from .conftest import call, call_error, eventually, read_notebook, wire, write_notebook
from .servers import Server, running_server

pytestmark = pytest.mark.usefixtures("shut_down_kernels")

# A second kernelspec on the same Python, told apart by the environment it gives its kernel.
OTHER = "python3-other"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """This module's own server, with a second kernelspec installed in its data dir."""
    home = tmp_path_factory.mktemp("kernels")
    spec = home / "data" / "kernels" / OTHER
    spec.mkdir(parents=True)
    spec.joinpath("kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python (other)",
                "language": "python",
                "env": {"WHICH_KERNEL": "other"},
            }
        )
    )
    with running_server(home) as s:
        yield s


WHICH = "import os\nos.environ.get('WHICH_KERNEL', 'default')"


async def sessions(server: Server, path: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
        return [s for s in (await http.get("api/sessions")).json() if s["path"] == path]


async def running_kernel_ids(server: Server) -> set[str]:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
        return {k["id"] for k in (await http.get("api/kernels")).json()}


def text(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs)


def value(result: dict) -> str:
    [shown] = [o for o in result["outputs"] if o["output_type"] == "execute_result"]
    return shown["data"]["text/plain"]


async def test_kernel_execute_returns_outputs_and_sees_the_cells_variables(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["secret = 41"])
    await call(mcp, "cell_execute", path=path, index=0)
    result = await call(mcp, "kernel_execute", path=path, code="print('hi')\nsecret + 1")
    assert result["status"] == "ok" and isinstance(result["execution_count"], int)
    assert text(result["outputs"]) == "hi\n" and value(result) == "42"
    assert "index" not in result and "cell_id" not in result
    failed = await call(mcp, "kernel_execute", path=path, code="raise KeyError('nope')")
    assert failed["status"] == "error" and failed["error"]["ename"] == "KeyError"
    [session] = await sessions(server, path)  # the notebook's own kernel, no other
    assert session["kernel"]["name"] == "python3"


async def test_kernel_execute_returns_images_as_image_content(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["x = 1"])
    code = "import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
    code += "%matplotlib inline\nplt.plot([1, 3, 2])\nplt.show()"
    result = await mcp.call_tool("kernel_execute", {"path": path, "code": code})
    images = [wire(c) for c in result.content if c.type == "image"]
    assert len(images) == 1 and images[0]["data"].startswith("iVBORw0KGgo")
    shown = result.structured_content["outputs"][0]["data"]["image/png"]
    assert shown == "<image/png returned as image content #1>"


async def test_kernel_execute_leaves_the_notebook_untouched(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["print('from the cell')"])
    on_disk = (server.root / path).read_bytes()
    async with Collaborator(server, path) as ada:
        before = await call(mcp, "notebook_get", path=path, outputs="full")
        scratch = "print('scratch output')\nscratch = 7\nscratch"
        result = await call(mcp, "kernel_execute", path=path, code=scratch)
        assert result["status"] == "ok" and value(result) == "7"
        after = await call(mcp, "notebook_get", path=path, outputs="full")
        assert after["cells"] == before["cells"] and after["metadata"] == before["metadata"]
        changes = await call(mcp, "notebook_changes", path=path, since=before["cursor"])
        assert changes["changes"] == []
        assert ada.notebook.get_cell(0).get("outputs") == []
        assert len(ada.notebook.ycells) == 1
        assert (server.root / path).read_bytes() == on_disk
        # A cell run afterwards is saved; the scratch code's outputs are nowhere in the file.
        ran = await call(mcp, "cell_execute", path=path, index=0)
        assert ran["execution_count"] == result["execution_count"] + 1

        def saved() -> dict | None:
            nb = read_notebook(server.root, path)
            return nb if nb["cells"][0]["execution_count"] is not None else None

        saved_nb = await eventually(saved)
        assert "scratch" not in json.dumps(saved_nb) and len(saved_nb["cells"]) == 1
        assert text(saved_nb["cells"][0]["outputs"]) == "from the cell\n"


async def test_kernel_execute_waits_behind_a_running_cell(server: Server, mcp: Client) -> None:
    cell = "import time\nprint('cell begins', flush=True)\ntime.sleep(3)\nended = True"
    path = write_notebook(server.root, [cell])
    started = await call(mcp, "cell_execute", path=path, index=0, wait=False)

    async def cell_running() -> bool:
        wait = await call(mcp, "execution_wait", execution_id=started["execution_id"], timeout=0)
        return wait["status"] == "running" and wait["outputs_so_far"]

    await eventually(cell_running, timeout=20)
    # Queued behind the cell: it sees what the cell set at its end, and its one second
    # counts from when the kernel begins it, not while it waits.
    result = await call(mcp, "kernel_execute", path=path, code="ended", timeout=1)
    assert result["status"] == "ok" and value(result) == "True"
    cell_result = await call(mcp, "execution_wait", execution_id=started["execution_id"])
    assert cell_result["status"] == "ok"
    assert cell_result["execution_count"] < result["execution_count"]


async def test_kernel_execute_without_waiting_is_listed_and_collected(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["x = 1"])
    code = "import time\ntime.sleep(1)\nprint('done', flush=True)"
    started = await call(mcp, "kernel_execute", path=path, code=code, wait=False)
    assert set(started) == {"execution_id", "status"}
    assert started["status"] in ("queued", "running")
    [row] = await call(mcp, "execution_list", path=path)
    assert row["execution_id"] == started["execution_id"] and row["kind"] == "code"
    assert row["cells"] == []
    final = await call(mcp, "execution_wait", execution_id=started["execution_id"], timeout=30)
    assert final["status"] == "ok" and text(final["outputs"]) == "done\n"


async def test_kernel_execute_times_out_and_the_kernel_keeps_working(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["x = 1"])
    code = "print('begun', flush=True)\nimport time\ntime.sleep(30)"
    result = await call(mcp, "kernel_execute", path=path, code=code, timeout=1)
    assert result["status"] == "timeout" and result["error"]["ename"] == "Timeout"
    assert text(result["outputs"]) == "begun\n"  # the outputs so far are kept
    after = await call(mcp, "kernel_execute", path=path, code="1 + 1")
    assert after["status"] == "ok" and value(after) == "2"


async def test_kernel_execute_reports_a_kernel_that_died(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["x = 1"])
    died = await call(mcp, "kernel_execute", path=path, code="import os\nos._exit(1)")
    assert died["status"] == "died" and "kernel died" in died["error"]["evalue"]
    after = await call(mcp, "kernel_execute", path=path, code="6 * 7")  # Jupyter restarts it
    assert after["status"] == "ok" and value(after) == "42"


async def test_kernel_execute_cuts_long_text_and_says_it_is_kept_nowhere(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["x = 1"])
    result = await call(mcp, "kernel_execute", path=path, code="print('x' * 1_000_000)")
    cut = result["outputs"][0]["text"]
    assert len(cut) < 25_000 and "characters cut" in cut and "kept nowhere" in cut


async def test_kernel_execute_refuses_blank_code_and_unknown_notebooks(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["x = 1"])
    assert "blank" in await call_error(mcp, "kernel_execute", path=path, code="  \n")
    assert await sessions(server, path) == []  # no kernel started for nothing
    message = await call_error(mcp, "kernel_execute", path="missing.ipynb", code="1")
    assert "missing.ipynb" in message


async def test_kernelspec_list_names_the_installed_kernels_and_the_default(mcp: Client) -> None:
    listed = await call(mcp, "kernelspec_list")
    assert listed["default"] == "python3"
    specs = {spec["name"]: spec for spec in listed["kernelspecs"]}
    assert set(specs) == {"python3", OTHER}
    assert specs[OTHER] == {"name": OTHER, "display_name": "Python (other)", "language": "python"}
    assert specs["python3"]["language"] == "python"


async def test_an_unknown_kernelspec_is_refused_and_nothing_changes(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, [WHICH])
    await call(mcp, "cell_execute", path=path, index=0)
    [session] = await sessions(server, path)
    before = await call(mcp, "notebook_get", path=path, outputs="full")
    message = await call_error(mcp, "notebook_set_kernel", path=path, kernelspec="julia-9")
    assert "'julia-9'" in message and "python3" in message and OTHER in message
    after = await call(mcp, "notebook_get", path=path, outputs="full")
    assert after["metadata"] == before["metadata"]
    assert await sessions(server, path) == [session]
    assert "julia" not in json.dumps(read_notebook(server.root, path)["metadata"])


async def test_set_kernel_switches_the_metadata_and_the_sessions_kernel(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, [WHICH, "marker = 1"])
    assert value(await call(mcp, "cell_execute", path=path, index=0)) == "'default'"
    await call(mcp, "cell_execute", path=path, index=1)
    [before] = await sessions(server, path)
    old_kernel = before["kernel"]["id"]

    kept = await call(mcp, "notebook_set_kernel", path=path, kernelspec="python3")
    assert kept["kernel_id"] == old_kernel  # already that kernel: it keeps running

    switched = await call(mcp, "notebook_set_kernel", path=path, kernelspec=OTHER)
    expected = {"name": OTHER, "display_name": "Python (other)", "language": "python"}
    assert switched["kernelspec"] == expected and switched["path"] == path
    [after] = await sessions(server, path)
    assert after["id"] == before["id"]  # the same session, as JupyterLab's picker keeps it
    assert after["kernel"]["name"] == OTHER and after["kernel"]["id"] == switched["kernel_id"]
    assert switched["kernel_id"] != old_kernel
    assert old_kernel not in await running_kernel_ids(server)

    live = (await call(mcp, "notebook_get", path=path, outputs="full"))["metadata"]
    assert live["kernelspec"] == expected and live["language_info"]["name"] == "python"
    await eventually(
        lambda: read_notebook(server.root, path)["metadata"].get("kernelspec") == expected
    )
    assert value(await call(mcp, "cell_execute", path=path, index=0)) == "'other'"
    fresh = await call(mcp, "kernel_execute", path=path, code="'marker' in globals()")
    assert value(fresh) == "False"  # the old kernel's variables are gone


async def test_set_kernel_without_a_session_changes_what_the_next_run_starts(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, [WHICH])
    async with Collaborator(server, path) as ada:
        result = await call(mcp, "notebook_set_kernel", path=path, kernelspec=OTHER)
        assert "kernel_id" not in result and "next execution" in result["message"]
        assert await sessions(server, path) == []
        await eventually(lambda: ada.notebook.get()["metadata"]["kernelspec"]["name"] == OTHER)
    await eventually(
        lambda: (
            read_notebook(server.root, path)["metadata"].get("kernelspec", {}).get("name") == OTHER
        )
    )
    assert value(await call(mcp, "cell_execute", path=path, index=0)) == "'other'"
    [session] = await sessions(server, path)
    assert session["kernel"]["name"] == OTHER


async def test_set_kernel_during_a_run_ends_it_as_died(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["import time\nprint('begun', flush=True)\ntime.sleep(60)"])
    started = await call(mcp, "cell_execute", path=path, index=0, wait=False)

    async def running() -> bool:
        wait = await call(mcp, "execution_wait", execution_id=started["execution_id"], timeout=0)
        return wait["status"] == "running" and wait["outputs_so_far"]

    await eventually(running, timeout=20)
    await call(mcp, "notebook_set_kernel", path=path, kernelspec=OTHER)
    final = await asyncio.wait_for(
        call(mcp, "execution_wait", execution_id=started["execution_id"], timeout=30), 35
    )
    assert final["status"] == "died" and text(final["outputs"]) == "begun\n"


async def test_a_kernel_shut_down_through_the_rest_api_ends_the_run_as_died(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["x = 1"])
    code = "import time\nprint('begun', flush=True)\ntime.sleep(60)"
    started = await call(mcp, "kernel_execute", path=path, code=code, wait=False)

    async def running() -> bool:
        wait = await call(mcp, "execution_wait", execution_id=started["execution_id"], timeout=0)
        return wait["status"] == "running" and wait["outputs_so_far"]

    await eventually(running, timeout=20)
    [session] = await sessions(server, path)
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
        response = await http.delete(f"api/kernels/{session['kernel']['id']}")
        assert response.status_code == 204
    final = await call(mcp, "execution_wait", execution_id=started["execution_id"], timeout=30)
    assert final["status"] == "died" and text(final["outputs"]) == "begun\n"
