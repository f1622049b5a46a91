"""The agent's edits that may not be on disk yet, and what is lost when the file wins.

When a notebook's file changes on disk (git checkout, another editor) while its room holds
changes not yet saved, jupyter-collaboration lets the file win and reloads the room. For a
person that shows on screen; an agent would never know. So every MCP edit is noted here
until the room has saved, and when the room is reloaded from a replaced file, the edits the
new file does not hold are reported to the agent's next call and kept beside the file.
"""

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

# Edits this long before a successful save are on disk: the room's autosave serialises the
# document just before writing it, so only an edit made during the write itself can be newer.
SAVE_MARGIN = 0.5
MOST_NOTED = 1000  # per room, for rooms whose autosave is off


@dataclass(frozen=True)
class Edit:
    what: str  # e.g. "cell_update of cell 3f2a…", for the message to the agent
    cell_id: str
    source: str | None  # the cell's source after the edit; None when the cell was deleted
    cell_type: str
    at: float


class UnsavedEdits:
    """MCP edits per room, from the moment they are made until their room has saved."""

    def __init__(self) -> None:
        self._edits: dict[str, deque[Edit]] = {}
        self._notices: dict[str, str] = {}

    def note(
        self, room_id: str, what: str, cell_id: str, source: str | None, cell_type: str = "code"
    ) -> None:
        edits = self._edits.setdefault(room_id, deque(maxlen=MOST_NOTED))
        edits.append(Edit(what, cell_id, source, cell_type, time.monotonic()))

    def saved(self, room_id: str) -> None:
        """The room wrote its document to the file."""
        edits = self._edits.get(room_id)
        cutoff = time.monotonic() - SAVE_MARGIN
        while edits and edits[0].at < cutoff:
            edits.popleft()
        if not edits:
            self._edits.pop(room_id, None)

    def pending(self, room_id: str) -> bool:
        return bool(self._edits.get(room_id))

    def lost(self, room_id: str, file_content: dict[str, Any]) -> list[Edit]:
        """The noted edits that the file's new `file_content` does not hold (the latest edit
        of each cell), forgetting every noted edit of the room."""
        edits = self._edits.pop(room_id, ())
        sources = {
            cell.get("id"): _source(cell.get("source", "")) for cell in file_content["cells"]
        }
        latest = {edit.cell_id: edit for edit in edits}
        return [edit for edit in latest.values() if not _held(edit, sources)]

    def tell(self, room_id: str, notice: str) -> None:
        self._notices[room_id] = notice

    def notice(self, room_id: str) -> str | None:
        """What the next call on the room's notebook must say first, once."""
        return self._notices.pop(room_id, None)

    def forget(self, room_id: str) -> None:
        self._edits.pop(room_id, None)


def _held(edit: Edit, sources: dict[str, str]) -> bool:
    if edit.source is None:
        return edit.cell_id not in sources
    return sources.get(edit.cell_id) == edit.source


def _source(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


def lost_cells(lost: list[Edit], metadata: dict[str, Any]) -> dict[str, Any]:
    """A notebook holding the cells as the lost edits left them, to keep beside the file."""
    cells = [
        {"cell_type": e.cell_type, "id": e.cell_id, "metadata": {}, "source": e.source}
        | ({"execution_count": None, "outputs": []} if e.cell_type == "code" else {})
        for e in lost
        if e.source is not None
    ]
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def describe(path: str, lost: list[Edit], kept: str | None) -> str:
    edits = "; ".join(e.what for e in lost)
    where = f" The cells as your edits left them are kept in '{kept}'." if kept else ""
    return (
        f"'{path}' was replaced on disk by another program before {len(lost)} of your edits "
        f"reached the file, and the notebook now holds the file's content. Lost: {edits}."
        f"{where} Nothing was done by this call: read the notebook again, then redo what is "
        "still needed."
    )
