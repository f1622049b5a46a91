"""Execution results as the model sees them: nbformat outputs with text cut to a budget,
images as MCP image content, ANSI colour codes removed."""

import base64
import json
import re
from typing import Any

from fastmcp.tools import ToolResult
from fastmcp.utilities.types import Image
from mcp.types import TextContent

from .execution import Execution

IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Budget:
    """Characters of text left for one result."""

    def __init__(self, chars: int) -> None:
        self.left = chars

    def cut(self, text: str) -> str:
        if len(text) <= self.left:
            self.left -= len(text)
            return text
        kept, self.left = text[: self.left], 0
        return (
            f"{kept}\n[... {len(text) - len(kept):,} of {len(text):,} characters cut here; "
            "the cell in the notebook has the full output]"
        )


def shape_outputs(
    outputs: list[dict[str, Any]], budget: Budget, images: list[Image]
) -> list[dict[str, Any]]:
    shaped = []
    for output in outputs:
        kind = output["output_type"]
        if kind == "stream":
            shaped.append({**output, "text": budget.cut(_ANSI.sub("", output["text"]))})
        elif kind == "error":
            traceback = _ANSI.sub("", "\n".join(output.get("traceback", [])))
            shaped.append({**output, "traceback": budget.cut(traceback).split("\n")})
        else:
            data = {}
            for mime, value in output.get("data", {}).items():
                if mime in IMAGE_TYPES:
                    images.append(Image(data=base64.b64decode(value), format=IMAGE_TYPES[mime]))
                    data[mime] = f"<{mime} returned as image content #{len(images)}>"
                elif isinstance(value, str):
                    data[mime] = budget.cut(value)
                else:
                    data[mime] = value
            shaped.append({**output, "data": data})
    return shaped


def execution_result(
    execution: Execution, *, index: int, cell_id: str, max_chars: int
) -> ToolResult:
    images: list[Image] = []
    result: dict[str, Any] = {
        "index": index,
        "cell_id": cell_id,
        "status": execution.status,
        "execution_count": execution.execution_count,
        "outputs": shape_outputs(execution.outputs, Budget(max_chars), images),
    }
    if execution.error is not None:
        error = dict(execution.error)
        if error.get("traceback"):
            error["traceback"] = _ANSI.sub("", "\n".join(error["traceback"]))[-4000:]
        result["error"] = error
    content: list[Any] = [TextContent(type="text", text=json.dumps(result, ensure_ascii=False))]
    content += [image.to_image_content() for image in images]
    return ToolResult(content=content, structured_content=result)
