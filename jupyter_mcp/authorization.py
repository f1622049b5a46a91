"""What each MCP tool call needs from Jupyter's authorizer, read from the JSON-RPC body
before the request reaches the MCP server."""

import json
from typing import Any

Permission = tuple[str, str]  # (action, resource), as Jupyter's authorizer names them

READ: set[Permission] = set()  # contents:read, which every /mcp request needs
WRITE = {("write", "contents")}
EXECUTE = {("execute", "kernels")}

# What each tool needs from Jupyter's authorizer beyond contents:read.
TOOL_PERMISSIONS: dict[str, set[Permission]] = {
    "notebook_list": READ,
    "notebook_get": READ,
    "notebook_watch": READ,
    "notebook_list_users": READ,
    "cell_get": READ,
    "room_list": READ,
    "notebook_create": WRITE,
    "cell_update": WRITE,
    "cell_insert": WRITE,
    "cell_delete": WRITE,
    "cell_edit": WRITE,
    "cell_move": WRITE,
    "cell_clear_outputs": WRITE,
    "notebook_clear_outputs": WRITE,
    "notebook_search": READ,
    "notebook_changes": READ,
    "cell_execute": WRITE | EXECUTE,
    "notebook_execute": WRITE | EXECUTE,
    "kernel_interrupt": EXECUTE,
    "kernel_restart": EXECUTE,
    "kernel_execute": EXECUTE,
    "kernelspec_list": READ,
    "notebook_set_kernel": WRITE | EXECUTE,
    "execution_wait": READ,
    "execution_list": READ,
}
TOOL_NAMES = frozenset(TOOL_PERMISSIONS)


def _tool_calls(body: bytes) -> list[dict[str, Any]]:
    try:
        message = json.loads(body)
    except ValueError:
        return []  # the MCP server answers malformed JSON itself
    messages = message if isinstance(message, list) else [message]
    return [m for m in messages if isinstance(m, dict) and m.get("method") == "tools/call"]


def required_permissions(body: bytes) -> set[Permission]:
    """The permissions the tool calls in a JSON-RPC request body need."""
    needed: set[Permission] = set()
    for call in _tool_calls(body):
        name = (call.get("params") or {}).get("name")
        needed |= TOOL_PERMISSIONS.get(name, set()) if isinstance(name, str) else set()
        arguments = (call.get("params") or {}).get("arguments")
        if name == "cell_insert" and isinstance(arguments, dict) and arguments.get("execute"):
            needed |= EXECUTE  # the new cell runs at once
    return needed


def refusal(body: bytes, permission: Permission) -> bytes | None:
    """A tool error for a single tool call the user may not make (None for a batch)."""
    calls = _tool_calls(body)
    if len(calls) != 1 or isinstance(json.loads(body), list):
        return None
    action, resource = permission
    text = (
        f"You are not authorized to {action} {resource} on this server, which "
        f"{calls[0]['params']['name']} needs; ask its administrator for that permission."
    )
    result = {"content": [{"type": "text", "text": text}], "isError": True}
    return json.dumps({"jsonrpc": "2.0", "id": calls[0].get("id"), "result": result}).encode()
