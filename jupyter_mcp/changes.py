"""What changed in a notebook, and who changed it: the change feed behind notebook_changes
and the cursors every read returns.

Each room MCP uses gets a log that observes its document. Every transaction becomes entries
{kind, cell_id, index, by}; `by` comes from the Yjs client ids whose clocks the transaction
advanced (the author of inserted content), named by the room's awareness, and from the
transaction's origin for this server's own tools. A Yjs deletion carries no author: it is
credited to the only person connected when there is one, else left unknown.
"""

import json
import secrets
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from jupyter_ydoc import YNotebook
from pycrdt import ArrayEvent, Decoder, Map, MapEvent, TextEvent, TransactionEvent

from .errors import NotebookError

MCP_ORIGIN = "jupyter-mcp"  # the origin of every transaction this server's tools make
MOST_KEPT = 10_000  # entries per notebook; an older cursor cannot be answered
REPEAT_KEYS = ("kind", "cell_id", "by")  # a change equal in these to the latest repeats it
CELL_KEYS = {
    "source": "source",
    "outputs": "outputs",
    "execution_count": "outputs",
    "metadata": "metadata",
    "cell_type": "type",
    "attachments": "metadata",
}


# The log observing each live document, whose list of cell ids finds a cell by id without a
# scan of the document (which costs about 50 µs a cell).
_LOGS: "weakref.WeakKeyDictionary[YNotebook, ChangeLog]" = weakref.WeakKeyDictionary()


def cell_ids(nb: YNotebook) -> list[str] | None:
    """The ids of the document's cells in order, as its change log follows them; None when
    no log observes it."""
    log = _LOGS.get(nb)
    return None if log is None else log.ids


class ChangeLog:
    """The changes of one room's document since MCP first used it."""

    def __init__(self, nb: YNotebook, who: Callable[[set[int], bool], dict[str, Any] | None]):
        """`who(clients, mcp)` names the author of a transaction: the Yjs clients whose
        clocks it advanced, and whether this server's tools made it."""
        self._token = secrets.token_hex(4)
        self._entries: deque[tuple[int, dict[str, Any]]] = deque(maxlen=MOST_KEPT)
        self._seq = 0
        self._forgotten = 0  # the last sequence number pushed out of the entries
        self._who = who
        self._pending: list[dict[str, Any]] = []
        self._mcp = False
        # Serialised on pycrdt's Rust side: ten times faster than reading each cell's id.
        self._ids = [str(cell.get("id")) for cell in json.loads(str(nb.ycells))]
        meta = nb.ydoc.get("meta", type=Map)
        self._nb = nb
        _LOGS[nb] = self
        self._subscriptions = [
            (nb.ycells, nb.ycells.observe_deep(self._on_cells)),
            (meta, meta.observe_deep(self._on_meta)),
            (nb.ydoc, nb.ydoc.observe(self._on_transaction)),
        ]

    def close(self) -> None:
        for target, subscription in self._subscriptions:
            target.unobserve(subscription)
        if _LOGS.get(self._nb) is self:
            del _LOGS[self._nb]

    @property
    def ids(self) -> list[str]:
        return self._ids

    @property
    def cursor(self) -> str:
        return f"{self._token}-{self._seq}"

    @property
    def start(self) -> str:
        return f"{self._token}-0"

    def since(self, cursor: str) -> list[dict[str, Any]]:
        """The changes after `cursor`."""
        token, _, seq = cursor.partition("-")
        if token != self._token or not seq.isdigit() or int(seq) > self._seq:
            raise NotebookError(
                "This cursor cannot be answered: the notebook's room was closed and opened "
                "again since, or the cursor is not one this server gave. Read the notebook "
                "again (notebook_get) for a new cursor."
            )
        after = int(seq)
        if after < self._forgotten:
            raise NotebookError(
                f"Too many changes since this cursor (more than {MOST_KEPT:,} are not kept). "
                "Read the notebook again (notebook_get) for a new cursor."
            )
        return [dict(entry) for n, entry in self._entries if n > after]

    def _add(self, entry: dict[str, Any]) -> None:
        """Keep a change; one that repeats the latest (typing, a run's outputs) replaces it,
        so that a stream of them costs one entry, under the new sequence number."""
        self._seq += 1
        if self._entries and all(self._entries[-1][1][k] == entry[k] for k in REPEAT_KEYS):
            self._entries.pop()
        if len(self._entries) == MOST_KEPT:
            self._forgotten = self._entries[0][0]
        self._entries.append((self._seq, entry))

    def record(self, entry: dict[str, Any], by: dict[str, Any] | None) -> None:
        """An event the document does not show by itself, such as edits lost to a file."""
        self._add({"cell_id": None, "index": None, **entry, "by": by})

    def _on_cells(self, events: list[Any]) -> None:
        # Structural events first: the paths of the others are positions after them.
        structural = [e for e in events if isinstance(e, ArrayEvent) and not e.path]
        for event in structural:
            self._mcp = self._mcp or event.transaction.origin == MCP_ORIGIN
            self._apply(event.delta)
        for event in events:
            if not event.path:
                continue
            self._mcp = self._mcp or event.transaction.origin == MCP_ORIGIN
            index = event.path[0]
            kinds = _cell_kinds(event)
            cell_id = (
                self._ids[index] if isinstance(index, int) and index < len(self._ids) else None
            )
            for kind in kinds:
                self._pending.append({"kind": kind, "cell_id": cell_id, "index": index})

    def _apply(self, delta: list[dict[str, Any]]) -> None:
        position, removed, added = 0, {}, {}
        for step in delta:
            if "retain" in step:
                position += step["retain"]
            elif "delete" in step:
                for cell_id in self._ids[position : position + step["delete"]]:
                    removed[cell_id] = position
                del self._ids[position : position + step["delete"]]
            elif "insert" in step:
                for cell in step["insert"]:
                    cell_id = str(cell.get("id")) if isinstance(cell, Map) else None
                    self._ids.insert(position, str(cell_id))
                    added[cell_id] = position
                    position += 1
        for cell_id, index in added.items():
            if cell_id in removed:
                kind = "type" if removed[cell_id] == index else "moved"
            else:
                kind = "added"
            self._pending.append({"kind": kind, "cell_id": cell_id, "index": index})
        for cell_id, index in removed.items():
            if cell_id not in added:
                self._pending.append({"kind": "deleted", "cell_id": cell_id, "index": index})

    def _on_meta(self, events: list[Any]) -> None:
        for event in events:
            self._mcp = self._mcp or event.transaction.origin == MCP_ORIGIN
        self._pending.append({"kind": "notebook_metadata", "cell_id": None, "index": None})

    def _on_transaction(self, event: TransactionEvent) -> None:
        if not self._pending:
            return
        by = self._who(_advanced(event.before_state, event.after_state), self._mcp)
        for entry in self._pending:
            self._add({**entry, "by": by})
        self._pending = []
        self._mcp = False


def _cell_kinds(event: Any) -> list[str]:
    """What an event inside a cell changed."""
    if len(event.path) >= 2:
        kind = CELL_KEYS.get(event.path[1])
        return [kind] if kind else []
    if isinstance(event, MapEvent):
        kinds = {CELL_KEYS[key] for key in event.keys if key in CELL_KEYS}
        return sorted(kinds)
    if isinstance(event, TextEvent):
        return ["source"]
    return []


def _advanced(before: bytes, after: bytes) -> set[int]:
    """The Yjs clients whose clocks moved between two state vectors: who inserted content."""
    old, new = _state(before), _state(after)
    return {client for client, clock in new.items() if clock > old.get(client, 0)}


def _state(vector: bytes) -> dict[int, int]:
    decoder = Decoder(vector)
    return {
        decoder.read_var_uint(): decoder.read_var_uint() for _ in range(decoder.read_var_uint())
    }
