"""Notebook and cell reads as the model sees them: every cell with its id, type, source,
execution count and version; outputs in full, summarised or left out; never more than the
server's read limit.

A summary keeps what an agent reasons with (text, cut to a budget per cell, with a note of
how much was cut) and names what it cannot read as text (images and other binary data, by
MIME type and size, with the call that returns them), so that one read of a notebook with
plots costs thousands of characters, not hundreds of thousands.
"""

import base64
import json
from typing import Any, Literal

from fastmcp.tools import ToolResult
from fastmcp.utilities.types import Image
from mcp.types import TextContent

from .cells import cell_version
from .errors import NotebookError
from .results import IMAGE_TYPES, Budget, shape_outputs

Outputs = Literal["summary", "full", "none"]
SUMMARY_CELL_CHARS = 1_000  # of text outputs per cell in a notebook summary
PAGE_NOTE_CHARS = 300  # kept free for next_start and the note of a page cut by the limit
TEXT_TYPES = ("text/plain", "text/markdown", "text/latex")


def notebook(
    nb: dict[str, Any], start: int, limit: int | None, outputs: Outputs, max_chars: int
) -> dict[str, Any]:
    """The page of the notebook `nb` (as cells.read gives it, whole or in part) from cell `start`,
    at most `limit` cells and `max_chars` characters (always at least one cell).

    With outputs "full" every cell is exactly as nbformat has it, plus its version; otherwise
    cells also carry their index, and outputs are summarised or left out."""
    cells, first, count = nb["cells"], nb["first"], nb["cell_count"]  # cells: from `first`
    if start < 0 or (start >= count and not (start == 0 and count == 0)):
        raise NotebookError(
            f"start {start} is out of range: the notebook has {count} cells "
            f"(start from 0 to {max(count - 1, 0)})."
        )
    if limit is not None and limit < 1:
        raise NotebookError("limit must be at least 1 (or omitted for every cell).")
    end = count if limit is None else min(count, start + limit)
    page: dict[str, Any] = {
        "metadata": nb["metadata"],
        "nbformat": nb["nbformat"],
        "nbformat_minor": nb["nbformat_minor"],
        "cell_count": count,
        "start": start,
    }
    left = max_chars - len(json.dumps(page, ensure_ascii=False)) - PAGE_NOTE_CHARS
    shaped = []
    for i in range(start, end):
        cell = _shape(cells[i - first], i, outputs)
        size = len(json.dumps(cell, ensure_ascii=False)) + 2
        if shaped and size > left:
            break
        if not shaped and size > left:
            cell = _cut_to(cell, left)  # a single cell larger than a read: its outputs go
        shaped.append(cell)
        left -= size
    page["cells"] = shaped
    following = start + len(shaped)
    if following < end:
        page["next_start"] = following
        page["note"] = (
            f"Cells {start} to {following - 1} of {count}: the read limit was reached. Call "
            f"notebook_get again with start={following} for the rest."
        )
    elif following < count:
        page["next_start"] = following
    return page


def cell(
    raw: dict[str, Any], index: int, outputs: Outputs, max_output_chars: int, max_chars: int,
    cursor: str,
) -> ToolResult:  # fmt: skip
    """One cell, its images as MCP image content (never as base64 text); text outputs cut to
    `max_output_chars` unless outputs is "full", and the whole within `max_chars`."""
    result = {"index": index, **raw, "version": cell_version(raw)}
    images: list[Image] = []
    if outputs == "none":
        result = _without_outputs(result)
    elif "outputs" in raw:
        budget = Budget(max_chars if outputs == "full" else max_output_chars)
        result["outputs"] = shape_outputs(raw["outputs"], budget, images)
        _name_binary(result["outputs"])
    result["cursor"] = cursor
    text = json.dumps(result, ensure_ascii=False)
    if len(text) > max_chars:
        result = _cut_to(result, max_chars)
        text = json.dumps(result, ensure_ascii=False)
    content: list[Any] = [TextContent(type="text", text=text)]
    content += [image.to_image_content() for image in images]
    return ToolResult(content=content, structured_content=result)


def _shape(raw: dict[str, Any], index: int, outputs: Outputs) -> dict[str, Any]:
    if outputs == "full":
        return {**raw, "version": cell_version(raw)}
    shaped = {"index": index, **raw, "version": cell_version(raw)}
    if "outputs" not in raw:
        return shaped
    if outputs == "none":
        return _without_outputs(shaped)
    budget = Budget(SUMMARY_CELL_CHARS)
    shaped["outputs"] = [_summary(output, budget, raw.get("id")) for output in raw["outputs"]]
    return shaped


def _summary(output: dict[str, Any], budget: Budget, cell_id: str | None) -> dict[str, Any]:
    kind = output.get("output_type")
    if kind == "stream":
        return {**output, "text": budget.cut(_text(output.get("text", "")))}
    if kind == "error":
        traceback = "\n".join(output.get("traceback", []))
        return {**output, "traceback": [budget.cut(traceback)]}
    data = output.get("data", {})
    kept = {m: budget.cut(_text(v)) for m, v in data.items() if m in TEXT_TYPES}
    omitted = [
        _omission(mime, value, cell_id) for mime, value in data.items() if mime not in TEXT_TYPES
    ]
    summary = {k: v for k, v in output.items() if k not in ("data", "metadata")}
    summary["data"] = kept
    if omitted:
        summary["omitted"] = omitted
    return summary


def _omission(mime: str, value: Any, cell_id: str | None) -> dict[str, Any]:
    text = value if isinstance(value, str) else json.dumps(value)
    named: dict[str, Any] = {"mime_type": mime}
    if mime in IMAGE_TYPES:
        named["bytes"] = _decoded_size(text)
        named["get"] = f"cell_get(cell_id='{cell_id}') returns it as image content"
    else:
        named["chars"] = len(text)
        named["get"] = f"cell_get(cell_id='{cell_id}', outputs='full') returns it"
    return named


def _name_binary(outputs: list[dict[str, Any]]) -> None:
    """Images are image content; other binary data (base64 text) is named, not inlined."""
    for output in outputs:
        for mime, value in list(output.get("data", {}).items()):
            if mime not in IMAGE_TYPES and _is_binary(mime) and isinstance(value, str):
                output["data"][mime] = f"<{mime}: {_decoded_size(value):,} bytes, not shown>"


def _is_binary(mime: str) -> bool:
    return mime.startswith(("image/", "audio/", "video/")) or mime == "application/pdf"


def _decoded_size(text: str) -> int:
    try:
        return len(base64.b64decode(text, validate=False))
    except ValueError:
        return len(text)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _without_outputs(cell: dict[str, Any]) -> dict[str, Any]:
    """The cell with its outputs left out and counted."""
    kept = {k: v for k, v in cell.items() if k != "outputs"}
    return {**kept, "output_count": len(cell.get("outputs", []))}


def _cut_to(cell: dict[str, Any], max_chars: int) -> dict[str, Any]:
    """A cell larger than a whole read: its outputs are left out, and its source cut."""
    cut = _without_outputs(cell) if "outputs" in cell else dict(cell)
    over = len(json.dumps(cut, ensure_ascii=False)) - max_chars
    if over > 0:
        source = cut["source"]
        cut["source"] = source[: max(len(source) - over - 200, 0)]
    cut["note"] = (
        f"This cell is larger than a read may be ({max_chars:,} characters, "
        "MCPExtension.max_read_chars): its outputs are left out"
        + (" and its source is cut" if over > 0 else "")
        + "."
    )
    return cut
