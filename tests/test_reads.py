"""Compact reads: a notebook with plots read in a few thousand characters, pages of long
notebooks, images as image content, and no read larger than the server's limit."""

import base64
import json
from pathlib import Path

import nbformat
import pytest
from fastmcp import Client
from fastmcp.client.client import CallToolResult

from .conftest import (
    call,
    call_error,
    client_for,
    eventually,
    read_notebook,
    wire,
    write_notebook,
)
from .servers import Server, running_server

pytestmark = pytest.mark.usefixtures("shut_down_kernels")

PLOT = """\
import matplotlib
matplotlib.use("agg")
import matplotlib.pyplot as plt
import numpy as np
%matplotlib inline
x = np.linspace(0, 10, 200)
fig, ax = plt.subplots()
ax.plot(x, np.sin(x * {k}))
ax.set_title("wave {k}")
plt.show()"""

# 21 cells as an analysis notebook has them: markdown, code printing tables and values, and
# three plots.
ANALYSIS = [
    ("markdown", "# Waves\nA short look at three sine waves."),
    ("code", "import numpy as np"),
    ("code", "data = np.random.default_rng(0).normal(size=(200, 4))\ndata.shape"),
    ("code", "print(data[:10])"),
    ("code", "data.mean(axis=0)"),
    ("markdown", "## First wave"),
    ("code", PLOT.format(k=1)),
    ("code", "for i in range(20):\n    print(f'step {i}: {data[i].sum():.4f}')"),
    ("markdown", "## Second wave"),
    ("code", PLOT.format(k=2)),
    ("code", "summary = {f'col{i}': float(data[:, i].std()) for i in range(4)}\nsummary"),
    ("code", "print('\\n'.join(str(row) for row in data[:30]))"),
    ("markdown", "## Third wave"),
    ("code", PLOT.format(k=3)),
    ("code", "np.corrcoef(data.T)"),
    ("code", "total = data.sum()\ntotal"),
    ("raw", "raw notes"),
    ("code", "def f(x):\n    return x ** 2\n[f(i) for i in range(50)]"),
    ("code", "print('done')"),
    ("markdown", "That is all."),
    ("code", ""),
]


async def _analysis(server: Server, mcp: Client) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(s)
        if kind == "markdown"
        else nbformat.v4.new_raw_cell(s)
        if kind == "raw"
        else nbformat.v4.new_code_cell(s)
        for kind, s in ANALYSIS
    ]
    path = "analysis.ipynb"
    nbformat.write(nb, server.root / path)
    result = await call(mcp, "notebook_execute", path=path, timeout=120)
    assert result["status"] == "ok", result
    return path


def _text(result: CallToolResult) -> str:
    return result.content[0].text


async def test_a_notebook_with_plots_is_read_in_a_few_thousand_characters(
    server: Server, mcp: Client
) -> None:
    path = await _analysis(server, mcp)
    full = await mcp.call_tool("notebook_get", {"path": path, "outputs": "full"})
    summary = await mcp.call_tool("notebook_get", {"path": path})
    full_chars, summary_chars = len(_text(full)), len(_text(summary))
    print(f"\n[reads] notebook_get of 21 cells with 3 plots: {summary_chars:,} characters "
          f"as a summary, {full_chars:,} in full")  # fmt: skip
    assert summary_chars <= 12_000
    assert full_chars > 10 * summary_chars  # the plots are in the full form
    read = summary.structured_content
    assert read["cell_count"] == 21 and len(read["cells"]) == 21
    exact = [
        {k: v for k, v in c.items() if k != "version"} for c in full.structured_content["cells"]
    ]
    for cell, whole in zip(read["cells"], exact, strict=True):
        assert cell["id"] == whole["id"] and cell["cell_type"] == whole["cell_type"]
        assert cell["source"] == whole["source"] and cell["version"]
        assert cell.get("execution_count") == whole.get("execution_count")
    assert sum(c.get("execution_count") is not None for c in read["cells"]) == 14
    plots = [c for c in read["cells"] if "plt.show()" in c["source"]]
    [image] = next(o for o in plots[0]["outputs"] if o.get("omitted"))["omitted"]
    assert image["mime_type"] == "image/png" and image["bytes"] > 1_000
    assert "image content" in image["get"] and plots[0]["id"] in image["get"]
    assert "iVBOR" not in _text(summary)  # no base64 PNG anywhere
    # Full: exactly the cells as nbformat has them (and saves them), with their versions.
    disk = await eventually(lambda: _saved(server.root, path, 14))
    for a, b in zip(disk, exact, strict=True):
        assert a == b, (a, b)


def _saved(root: Path, path: str, executed: int) -> list | None:
    cells = read_notebook(root, path)["cells"]
    return cells if sum(c.get("execution_count") is not None for c in cells) == executed else None


async def test_cell_get_returns_images_as_image_content(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, [PLOT.format(k=1)])
    await call(mcp, "cell_execute", path=path, index=0)
    result = await mcp.call_tool("cell_get", {"path": path, "index": 0})
    [image] = [c for c in result.content if c.type == "image"]
    assert wire(image)["mimeType"] == "image/png"
    assert base64.b64decode(image.data).startswith(b"\x89PNG")
    assert "iVBOR" not in _text(result) and len(_text(result)) < 3_000
    assert "image content #1" in json.dumps(result.structured_content["outputs"])


async def test_long_text_outputs_are_cut_in_reads(server: Server, mcp: Client) -> None:
    log = "".join(f"line {i}: " + "x" * 90 + "\n" for i in range(50_000))  # 5 MB
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(log)", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text=log)])]  # fmt: skip
    nbformat.write(nb, server.root / "log.ipynb")
    summary = await mcp.call_tool("notebook_get", {"path": "log.ipynb"})
    assert len(_text(summary)) < 3_000
    assert "characters cut here" in _text(summary)
    cell = await mcp.call_tool("cell_get", {"path": "log.ipynb", "index": 0})
    assert 20_000 <= len(_text(cell)) < 25_000  # max_output_chars
    none = await call(mcp, "cell_get", path="log.ipynb", index=0, outputs="none")
    assert none["output_count"] == 1 and "outputs" not in none
    # Full is still bounded by the read limit (400,000 characters by default).
    full = await mcp.call_tool("cell_get", {"path": "log.ipynb", "index": 0, "outputs": "full"})
    assert len(_text(full)) <= 400_000


async def test_long_notebooks_come_in_pages(tmp_path: Path) -> None:
    with running_server(tmp_path, "--MCPExtension.max_read_chars=20000") as server:
        path = write_notebook(server.root, [f"cell {i}\n" + "y" * 100 for i in range(1_000)])
        async with client_for(server) as mcp:
            page = await call(mcp, "notebook_get", path=path, start=10, limit=5)
            assert [c["index"] for c in page["cells"]] == [10, 11, 12, 13, 14]
            assert page["cell_count"] == 1_000 and page["next_start"] == 15
            seen, start = [], 0
            while True:
                page = await call(mcp, "notebook_get", path=path, start=start)
                assert len(json.dumps(page)) <= 20_000
                seen += [c["source"].split("\n")[0] for c in page["cells"]]
                if "next_start" not in page:
                    break
                assert "start=" in page["note"]
                start = page["next_start"]
            assert seen == [f"cell {i}" for i in range(1_000)]
            message = await call_error(mcp, "notebook_get", path=path, start=1_000)
            assert "out of range" in message
            none = await call(mcp, "notebook_get", path=path, limit=1, outputs="none")
            assert none["cells"][0]["output_count"] == 0
