"""Presence: people in JupyterLab see the agent as a collaborator while it works.

The agent is shown twice, as JupyterLab users are: as a user of each notebook room it works
on (the room's awareness), and in JupyterLab's global awareness, whose collaborators panel
lists every user with the documents they have open.
"""

import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pycrdt.websocket import YRoom

GLOBAL_AWARENESS_ROOM = "JupyterLab:globalAwareness"


@dataclass
class _Seen:
    path: str
    last_used: float
    room: "weakref.ref[YRoom]"


class Presence:
    """The agent's awareness states, announced again whenever a room's clients change:
    pycrdt-websocket does not send existing states to a client that joins later."""

    def __init__(self, user: dict[str, str]) -> None:
        self._user = user
        self._seen: dict[str, _Seen] = {}  # room id -> the notebook the agent last used there
        self._announced: weakref.WeakKeyDictionary[YRoom, Any] = weakref.WeakKeyDictionary()

    def show(self, room_id: str, path: str, room: YRoom, global_room: YRoom | None) -> None:
        """The agent works on `path` now."""
        self._seen.pop(room_id, None)  # re-inserted last: the current document
        self._seen[room_id] = _Seen(path, time.monotonic(), weakref.ref(room))
        self._set(room, {"user": self._user})
        self._show_globally(global_room)

    @property
    def user(self) -> dict[str, str]:
        """The agent's collaborator identity."""
        return self._user

    def refresh(self, timeout: float, busy: set[str], rooms: Mapping[str, YRoom]) -> None:
        """Withdraw from notebooks the agent has not used for `timeout` seconds (unless it is
        busy there, e.g. running a cell); announce again to clients that joined meanwhile.
        `rooms` are the rooms open now: a room no longer among them has stopped."""
        now = time.monotonic()
        for room_id, seen in list(self._seen.items()):
            room = seen.room()
            if room is not None and rooms.get(room_id) is not room:
                room = None  # deleted: its awareness has stopped and cannot be told anything
            if room_id in busy:
                seen.last_used = now
            if now - seen.last_used >= timeout or room is None:
                del self._seen[room_id]
                if room is not None:
                    self._set(room, {"user": None})
            else:
                self._set(room, {"user": self._user})
        self._show_globally(rooms.get(GLOBAL_AWARENESS_ROOM))

    def _show_globally(self, global_room: YRoom | None) -> None:
        if global_room is None:
            return  # no JupyterLab has connected yet
        documents = [seen.path for seen in self._seen.values()]
        if documents:
            fields = {
                "user": self._user,
                "current": f"notebook:{documents[-1]}",
                "documents": documents,
            }
        else:
            fields = {"user": None, "current": None, "documents": None}
        self._set(global_room, fields)

    def _set(self, room: YRoom, fields: dict[str, Any]) -> None:
        """Merge `fields` into the room's server-side awareness state (None removes a field)."""
        state = dict(room.awareness.get_local_state() or {})
        for key, value in fields.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        clients = frozenset(map(id, room.clients))
        if self._announced.get(room) != (clients, state):
            room.awareness.set_local_state(state)
            self._announced[room] = (clients, state)
