"""Tools on the collaboration rooms."""

from typing import Any

from .common import READS, Register, Toolbox


def register(tool: Register, t: Toolbox) -> None:
    @tool(READS)
    async def room_list() -> list[dict[str, Any]]:
        """List the open collaboration rooms: [{room_id, path, file_id, users, user_count,
        has_kernel}], one per open document. user_count counts connected JupyterLab clients."""
        return await t.rooms.describe()
