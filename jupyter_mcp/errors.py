"""Errors reported to the MCP client as tool errors."""

from fastmcp.exceptions import ToolError


class NotebookError(ToolError):
    """A request that cannot be carried out; nothing was changed."""
