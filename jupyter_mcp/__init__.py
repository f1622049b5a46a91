"""jupyter-mcp: an MCP server at /mcp inside Jupyter Server, on the live collaborative notebooks."""

from .app import MCPExtension

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "jupyter_mcp", "app": MCPExtension}]
