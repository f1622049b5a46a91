"""What a read costs the model: the characters of content (text, and images as base64) that
notebook_get and cell_get return for a 21-cell analysis notebook with three small plots."""

import base64
import io
from collections.abc import Callable
from typing import Any

import matplotlib.figure
import nbformat
import numpy
from matplotlib.axes import Axes
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

from jupyter_mcp.client import LeanClient
from tests.servers import Server

from .measure import Figure

SUMMARY_TARGET_CHARS = 12_000
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
RANDOM = numpy.random.default_rng(7)


def plot_png(draw: Callable[[Axes], object]) -> str:
    """A 400x300 plot as a kernel's inline backend sends it: base64 PNG (drawn by Agg)."""
    figure = matplotlib.figure.Figure(figsize=(4, 3), dpi=100)
    draw(figure.subplots())
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def plot_output(draw: Callable[[Axes], object]) -> Any:
    data = {"image/png": plot_png(draw), "text/plain": "<Figure size 400x300 with 1 Axes>"}
    return new_output("display_data", data=data)


def result(text: str, html: str | None = None) -> Any:
    data = {"text/plain": text} | ({"text/html": html} if html else {})
    return new_output("execute_result", data=data)


def printed(text: str) -> Any:
    return new_output("stream", name="stdout", text=text)


def table(rows: list[list[str]]) -> Any:
    """A data frame's result: plain text and an HTML table."""
    head, *body = rows
    header = "".join(f"<th>{c}</th>" for c in head)
    lines = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    html = f'<table border="1" class="dataframe"><thead><tr>{header}</tr></thead>{lines}</table>'
    return result("\n".join("  ".join(row) for row in rows), html)


HEAD = [
    ["", "date", "store", "region", "line", "product", "amount"],
    *([str(i), f"2024-01-0{i + 1}", f"S{i:03d}", "North", "Home", f"P-{i:04d}", f"{12.5 * i:.2f}"]
      for i in range(5)),
]  # fmt: skip
REGIONS = {"North": 310_000, "South": 270_000, "East": 190_000, "West": 235_000}
BY_REGION = [
    ["region", "sum", "mean", "count"],
    *([region, f"{total:,}", f"{total / 3100:.2f}", "3100"] for region, total in REGIONS.items()),
]
INFO = """<class 'pandas.core.frame.DataFrame'>
RangeIndex: 12840 entries, 0 to 12839
Data columns (total 7 columns):
 #   Column    Non-Null Count  Dtype
---  ------    --------------  -----
 0   date      12840 non-null  datetime64[ns]
 1   store     12840 non-null  object
 2   region    12611 non-null  object
 3   line      12840 non-null  object
 4   product   12840 non-null  object
 5   amount    12840 non-null  float64
 6   customer  12840 non-null  object
dtypes: datetime64[ns](1), float64(1), object(5)
memory usage: 702.3+ KB
"""
MISSING = """date        0
store       0
region      0
line        0
product     0
amount      0
customer    0
dtype: int64"""
MONTHLY = """date
2024-10-01     91234.50
2024-11-01     97410.25
2024-12-01    121873.00
Freq: MS, Name: amount, dtype: float64"""
DESCRIBED = """line       Garden      Home     Tools
count       12.00     12.00     12.00
mean     24890.12  26012.77  23411.05
std       8120.44   9034.18   7702.61
min      10233.80  10871.02  10444.19
max      39012.55  39877.30  38120.74"""
TOP = """product
P-0412    18211.40
P-0077    17530.15
P-1203    16988.00
P-0019    15002.75
P-0630    14410.90
Name: amount, dtype: float64"""


def analysis_notebook() -> Any:
    """21 cells: markdown, code with short text outputs, and three plots."""
    revenue = 80_000 + RANDOM.normal(0, 8_000, 12).cumsum()
    lines = {name: RANDOM.uniform(10_000, 40_000, 12) for name in ("Home", "Garden", "Tools")}

    def by_month(ax: Axes) -> None:
        ax.plot(MONTHS, revenue, marker="o")
        ax.set_title("Revenue by month")

    def by_region(ax: Axes) -> None:
        ax.bar(list(REGIONS), list(REGIONS.values()))
        ax.set_title("Revenue by region")

    def by_line(ax: Axes) -> None:
        for name, values in lines.items():
            ax.plot(MONTHS, values, label=name)
        ax.legend()
        ax.set_title("Revenue by product line")

    md, code = new_markdown_cell, new_code_cell
    cells = [
        md("# Monthly sales review\n\nLoads the 2024 sales export, cleans it and plots revenue "
           "by month, region and product line."),
        code("import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt"),
        md("## Load the data"),
        code('sales = pd.read_csv("data/sales-2024.csv", parse_dates=["date"])\nsales.shape',
             outputs=[result("(12840, 7)")]),
        code("sales.head()", outputs=[table(HEAD)]),
        code("sales.info()", outputs=[printed(INFO)]),
        md("## Clean\n\nDrop refunds and test orders; fill missing regions from the stores."),
        code('sales = sales[(sales.amount > 0) & ~sales.customer.str.startswith("test-")]\n'
             'sales["region"] = sales.region.fillna(sales.store.map(stores.region))\n'
             'print(len(sales), "rows kept")', outputs=[printed("12517 rows kept\n")]),
        code("sales.isna().sum()", outputs=[result(MISSING)]),
        md("## Revenue by month"),
        code('monthly = sales.resample("MS", on="date").amount.sum()\nmonthly.tail(3)',
             outputs=[result(MONTHLY)]),
        code('fig, ax = plt.subplots(figsize=(4, 3))\nmonthly.plot(ax=ax, marker="o")\n'
             'ax.set_title("Revenue by month")\nplt.show()', outputs=[plot_output(by_month)]),
        md("## By region"),
        code('by_region = sales.groupby("region").amount.agg(["sum", "mean", "count"])\n'
             "by_region", outputs=[table(BY_REGION)]),
        code('by_region["sum"].plot.bar(figsize=(4, 3), title="Revenue by region")\nplt.show()',
             outputs=[plot_output(by_region)]),
        md("## Product lines"),
        code('lines = sales.pivot_table(index="month", columns="line", values="amount", '
             'aggfunc="sum")\nlines.describe()', outputs=[result(DESCRIBED)]),
        code('lines.plot(figsize=(4, 3), title="Revenue by product line")\nplt.show()',
             outputs=[plot_output(by_line)]),
        code('top = sales.groupby("product").amount.sum().nlargest(5)\ntop',
             outputs=[result(TOP)]),
        md("## Notes\n\n- December peak: the holiday campaign.\n"
           "- North dips in May: a store closed for refitting."),
        code('sales.to_parquet("data/sales-2024-clean.parquet")'),
    ]  # fmt: skip
    for count, cell in enumerate((c for c in cells if c.cell_type == "code"), start=1):
        cell.execution_count = count
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = count
    notebook = nbformat.v4.new_notebook(cells=cells)
    nbformat.validate(notebook)
    return notebook


def content_chars(result: dict[str, Any]) -> tuple[int, int]:
    """(characters of text, characters of base64 image data) in an MCP tool result's content:
    what the model receives."""
    text = sum(len(c["text"]) for c in result["content"] if c["type"] == "text")
    images = sum(len(c["data"]) for c in result["content"] if c["type"] == "image")
    return text, images


async def read_cost_figures(server: Server) -> list[Figure]:
    notebook = analysis_notebook()
    assert len(notebook.cells) == 21
    nbformat.write(notebook, server.root / "analysis.ipynb")
    plot_cell = next(i for i, c in enumerate(notebook.cells) if "plt.subplots" in c.source)
    reads = [
        ("notebook_get outputs=summary (21 cells, 3 plots)", "notebook_get",
         {"outputs": "summary"}, SUMMARY_TARGET_CHARS),
        ("notebook_get outputs=full", "notebook_get", {"outputs": "full"}, None),
        ("cell_get of a plot cell (summary)", "cell_get", {"index": plot_cell}, None),
    ]  # fmt: skip
    figures = []
    async with LeanClient(server.mcp_url, server.headers) as mcp:
        for name, tool, arguments, target in reads:
            params = {"name": tool, "arguments": {"path": "analysis.ipynb", **arguments}}
            answer = await mcp.request("tools/call", params)
            assert not answer.get("isError"), answer["content"]
            text, images = content_chars(answer)
            note = f"text {text:,} + image base64 {images:,}"
            figures.append(Figure(name, text + images, "chars", target, note))
    return figures
