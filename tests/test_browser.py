"""A person in JupyterLab (Debian's Chromium driven by Playwright) and an agent on /mcp
working on the same notebook."""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from fastmcp import Client

from .conftest import call, client_for, eventually
from .servers import Server, running_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
# Headless, and no background connections: this machine's network is closed.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
AGENT = "Agent Smith"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"MCP_SERVER_NAME": AGENT}
    home = tmp_path_factory.mktemp("lab")
    with running_server(home, "--MCPExtension.presence_timeout=4", env=env) as server:
        yield server


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    playwright = pytest.importorskip("playwright.async_api")
    if not HAVE_CHROMIUM:
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    async with playwright.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def open_notebook(browser: Any, server: Server, name: str, sources: list[str]) -> Any:
    """Write a notebook with a kernelspec and open it in JupyterLab, its kernel idle."""
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    )
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    (server.root / name).write_text(nbformat.writes(nb))
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    # A workspace of its own, so JupyterLab does not restore the other tests' tabs.
    workspace = name.removesuffix(".ipynb")
    await page.goto(f"{server.url}lab/workspaces/{workspace}/tree/{name}?token={server.token}")
    await page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    await page.wait_for_selector(
        ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
    )
    return page


async def test_person_sees_the_agents_edits_outputs_and_presence(
    lab: Server, browser: Any, tmp_path: Path
) -> None:
    page = await open_notebook(browser, lab, "seen.ipynb", ["a = 1"])
    try:
        async with client_for(lab) as mcp:
            cell = await call(
                mcp, "cell_insert", path="seen.ipynb", source="print('from', 'the agent')"
            )
            await page.wait_for_selector(".jp-Cell >> text=print('from', 'the agent')")
            await call(mcp, "cell_update", path="seen.ipynb", index=0, source="a = 2  # edited")
            await page.wait_for_selector(".jp-Cell >> text=a = 2  # edited")
            await mcp.call_tool("cell_execute", {"path": "seen.ipynb", "cell_id": cell["cell_id"]})
            await page.wait_for_selector(".jp-OutputArea-output >> text=from the agent")

            await page.click("[data-id='jp-collaboration-panel']")
            collaborator = page.locator(".jp-CollaboratorsList .jp-Collaborator", has_text=AGENT)
            await collaborator.wait_for(timeout=15_000)
            await page.screenshot(path=str(tmp_path / "agent-present.png"))
            await collaborator.locator(".jp-CollaboratorHeader").click()
            await collaborator.locator("text=seen.ipynb").wait_for()
        # The agent is gone from the panel once it has left the notebook alone a while.
        await collaborator.wait_for(state="detached", timeout=20_000)
    finally:
        await page.close()


async def test_agent_sees_the_person_and_they_share_one_kernel(
    lab: Server, browser: Any, mcp_lab: Client
) -> None:
    page = await open_notebook(browser, lab, "shared.ipynb", ["import os"])
    try:
        cell = await call(mcp_lab, "cell_insert", path="shared.ipynb", source="secret = 6 * 7")
        agent_run = await mcp_lab.call_tool(
            "cell_execute", {"path": "shared.ipynb", "cell_id": cell["cell_id"]}
        )
        await page.click(".jp-Cell:last-child .jp-InputArea-editor")
        await page.keyboard.press("Escape")
        await page.keyboard.press("b")  # a new cell below, as a person adds one
        await page.keyboard.press("Enter")
        await page.keyboard.type("print('person sees', secret)")
        await page.keyboard.press("Shift+Enter")
        await page.wait_for_selector(".jp-OutputArea-output >> text=person sees 42")

        cells = (await call(mcp_lab, "notebook_get", path="shared.ipynb"))["cells"]
        typed = next(c for c in cells if c["source"] == "print('person sees', secret)")
        assert typed["execution_count"] == agent_run.structured_content["execution_count"] + 1
        assert typed["outputs"][0]["text"] == "person sees 42\n"
        async with httpx.AsyncClient(base_url=lab.url, headers=lab.headers) as http:
            sessions = (await http.get("api/sessions")).json()
        assert [s["path"] for s in sessions].count("shared.ipynb") == 1
    finally:
        await page.close()


@pytest.fixture
async def mcp_lab(lab: Server) -> AsyncIterator[Client]:
    async with client_for(lab) as client:
        yield client


async def test_person_sees_a_moved_cell_and_cleared_outputs(
    lab: Server, browser: Any, tmp_path: Path
) -> None:
    page = await open_notebook(browser, lab, "moved.ipynb", ["first = 1", "print('kept output')"])
    try:
        async with client_for(lab) as mcp:
            await call(mcp, "cell_execute", path="moved.ipynb", index=1)
            await page.wait_for_selector(".jp-OutputArea-output >> text=kept output")
            await call(mcp, "cell_move", path="moved.ipynb", index=1, to=0)

            async def sources() -> list[str]:
                editors = page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor")
                return [text.strip() for text in await editors.all_inner_texts()]

            async def moved() -> bool:
                return await sources() == ["print('kept output')", "first = 1"]

            await eventually(moved, timeout=20)
            # The moved cell keeps its output, shown under it in its new place.
            first = page.locator(".jp-Notebook .jp-Cell").first
            await first.locator(".jp-OutputArea-output >> text=kept output").wait_for()
            await page.screenshot(path=str(tmp_path / "moved.png"))
            await call(mcp, "notebook_clear_outputs", path="moved.ipynb")
            await page.locator(".jp-OutputArea-output >> text=kept output").wait_for(
                state="detached", timeout=20_000
            )
    finally:
        await page.close()
