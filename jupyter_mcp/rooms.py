"""Room resolution: the live YNotebook of a file, shared with JupyterLab, one room per notebook.

Nothing here keeps a YNotebook across calls: the websocket handler may delete a room at any
time after its last client leaves, so every call resolves the room again.
"""

import asyncio
import os
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import ensure_async
from jupyter_server_ydoc.app import YDocExtension
from jupyter_server_ydoc.loaders import FileLoader
from jupyter_server_ydoc.rooms import DocumentRoom
from jupyter_server_ydoc.utils import (
    JUPYTER_COLLABORATION_AWARENESS_EVENTS_URI,
    JUPYTER_COLLABORATION_EVENTS_URI,
    OutOfBandChanges,
)
from jupyter_ydoc import YNotebook
from tornado import web

from .changes import MCP_ORIGIN, ChangeLog
from .errors import NotebookError
from .presence import GLOBAL_AWARENESS_ROOM, Presence
from .unsaved import UnsavedEdits, describe, lost_cells

SERVER_AUTHOR = {"name": "jupyter-server", "display_name": "the server", "is_mcp": False}
OPEN_ATTEMPTS = 5  # a room deleted while it is being opened is opened again
CONTENTS_EVENTS_URI = "https://events.jupyter.org/jupyter_server/contents_service/v1"


def notebook_room_id(file_id: str) -> str:
    """The room JupyterLab joins for a notebook (see jupyter_server_ydoc's DocSessionHandler)."""
    return f"json:notebook:{file_id}"


def _file_id(room_id: str) -> str:
    """The file id in a document room's id, '<format>:<type>:<file id>'."""
    return room_id.split(":", 2)[2]


class Rooms:
    """The collaboration rooms of notebooks, as MCP tools use them."""

    def __init__(self, serverapp: ServerApp, user: dict[str, str]) -> None:
        self._serverapp = serverapp
        self._log = serverapp.log
        self._edit_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._last_used: dict[str, float] = {}
        # The room MCP last used, per room id, and its document's state when it last loaded
        # or saved the file: a room the collaboration extension deletes loses its pending
        # autosave, so MCP saves what changed since.
        self._opened: dict[str, tuple[DocumentRoom, bytes]] = {}
        self._handover_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._logs: dict[str, tuple[DocumentRoom, ChangeLog]] = {}  # per room id
        self._in_use: Counter[str] = Counter()
        self._presence = Presence(user)
        self._unsaved = UnsavedEdits()
        events = serverapp.event_logger
        events.add_listener(
            schema_id=JUPYTER_COLLABORATION_EVENTS_URI, listener=self._on_room_event
        )
        events.add_listener(
            schema_id=JUPYTER_COLLABORATION_AWARENESS_EVENTS_URI, listener=self._on_awareness_event
        )
        events.add_listener(schema_id=CONTENTS_EVENTS_URI, listener=self._on_contents_event)

    @property
    def _ydoc(self) -> YDocExtension:
        # Looked up lazily: extensions load alphabetically, jupyter_mcp before jupyter_server_ydoc.
        apps = self._serverapp.extension_manager.extension_apps.get("jupyter_server_ydoc")
        if not apps:
            raise NotebookError(
                "Real-time collaboration is not enabled on this server: install and enable "
                "jupyter-collaboration."
            )
        return next(iter(apps))

    @property
    def _rooms(self) -> dict[str, Any]:
        return self._ydoc.ywebsocket_server.rooms

    @property
    def _file_ids(self) -> Any:
        return self._serverapp.web_app.settings["file_id_manager"]

    def room_id(self, api_path: str) -> str:
        """The notebook's room id, its file id minted if the file has none yet."""
        file_id = self._file_ids.get_id(api_path) or self._file_ids.index(api_path)
        return notebook_room_id(file_id)

    def known_room_id(self, api_path: str) -> str | None:
        """The notebook's room id if its file has an id; never mints one."""
        file_id = self._file_ids.get_id(api_path)
        return None if file_id is None else notebook_room_id(file_id)

    def existing(self, api_path: str) -> DocumentRoom | None:
        """The notebook's room if one is open; never creates one."""
        room_id = self.known_room_id(api_path)
        room = self._rooms.get(room_id) if room_id else None
        return room if isinstance(room, DocumentRoom) and room.ready else None

    def open_document(self, api_path: str) -> YNotebook | None:
        """The live document of the notebook if its room is open; never opens one."""
        room = self.existing(api_path)
        return None if room is None or _stopped(room) else _live_document(room)

    async def notebook(self, api_path: str) -> YNotebook:
        """The live document of an existing notebook file, opening its room if needed."""
        room_id = self.room_id(api_path)
        nb = await self._open(api_path, room_id)
        self._tell(room_id)
        return nb

    def edited(
        self, api_path: str, what: str, cell_id: str, source: str | None, cell_type: str = "code"
    ) -> None:
        """Note an MCP edit, until the room has written it to the file."""
        self._unsaved.note(self.room_id(api_path), what, cell_id, source, cell_type)

    def _tell(self, room_id: str) -> None:
        notice = self._unsaved.notice(room_id)
        if notice is not None:
            raise NotebookError(notice)

    async def _open(self, api_path: str, room_id: str) -> YNotebook:
        ydoc = self._ydoc
        for _ in range(OPEN_ATTEMPTS):
            await self._drop_if_dead(room_id)
            try:
                document = await ydoc.get_document(room_id=room_id, copy=False, create=True)
            except web.HTTPError as error:
                # The collaboration extension could not load the file (invalid JSON, a
                # half-done merge): the reason, without the server's own path to it.
                reason = error.log_message or str(error)
                reason = reason.replace(self._os_path(api_path), api_path)
                raise NotebookError(
                    f"'{api_path}' cannot be loaded as a notebook: {reason}. Fix the file; "
                    "the next call loads it again."
                ) from None
            room = self._rooms.get(room_id)
            if not isinstance(room, DocumentRoom) or not isinstance(document, YNotebook):
                raise NotebookError(f"'{api_path}' could not be opened as a notebook.")
            _keep(room)
            if not room.ready:
                # A room the websocket handler registered but has not loaded yet, or one
                # whose load failed: load it under the lock the handler itself uses.
                async with _room_lock(ydoc, room_id):
                    await room.initialize()
            await _settled(room)
            await self._save_deleted(room_id)
            if self._rooms.get(room_id) is room and not _stopped(room):
                break  # else the collaboration extension deleted it meanwhile: open again
        else:
            raise NotebookError(f"'{api_path}' could not be opened: its room keeps closing.")
        _keep(room)
        if self._opened.get(room_id, (None,))[0] is not room:
            self._opened[room_id] = (room, room.ydoc.get_state())
        if self._logs.get(room_id, (None,))[0] is not room:
            self._close_log(room_id)
            log = ChangeLog(document, lambda clients, mcp: self._author(room, clients, mcp))
            self._logs[room_id] = (room, log)
        self._last_used[room_id] = time.monotonic()
        self._presence.show(room_id, api_path, room, self._rooms.get(GLOBAL_AWARENESS_ROOM))
        return document

    async def _drop_if_dead(self, room_id: str) -> None:
        """Forget a room whose load failed, so that the next open loads the file afresh.

        The collaboration extension stops such a room but leaves it registered, and a
        stopped room can neither load nor serve again."""
        room = self._rooms.get(room_id)
        if isinstance(room, DocumentRoom) and not room.ready and _stopped(room):
            async with _room_lock(self._ydoc, room_id):
                if self._rooms.get(room_id) is room:
                    del self._rooms[room_id]

    def _os_path(self, api_path: str) -> str:
        return os.path.join(self._serverapp.contents_manager.root_dir, api_path)

    async def current(self, room_id: str) -> YNotebook:
        """The live document of the room now, for a long operation that started on it: the
        same object while the room stays open, the re-created room's after it was deleted."""
        room = self._rooms.get(room_id)
        if isinstance(room, DocumentRoom) and room.ready and not _stopped(room):
            _keep(room)
            await _settled(room)
            return _live_document(room)
        live = await self.live(room_id)
        if live is None:
            raise NotebookError("The notebook was deleted.")
        return live[1]

    async def live(self, room_id: str) -> tuple[str, YNotebook] | None:
        """The current path and live document of the notebook whose room is `room_id`,
        following renames and moves; None once its file is gone.

        Called for every batch of a running cell's outputs: an open room's own file loader
        knows the path (it follows renames), so only a room that has to be opened again
        costs a file-id lookup and a look at the disk.
        """
        room = self._rooms.get(room_id)
        if isinstance(room, DocumentRoom) and room.ready and not _stopped(room):
            path = _path(room)
            if path is None:
                return None
        else:
            path = self._file_ids.get_path(_file_id(room_id))
            manager = self._serverapp.contents_manager
            if path is None or not await ensure_async(manager.file_exists(path)):
                return None
        return path, await self._open(path, room_id)

    @asynccontextmanager
    async def editing(self, api_path: str) -> AsyncIterator[YNotebook]:
        """The live document, with the notebook's MCP edits serialised, in one transaction
        that the change feed credits to this server's tools."""
        room_id = self.room_id(api_path)
        async with self._edit_locks[room_id]:
            nb = await self._open(api_path, room_id)
            self._tell(room_id)
            with nb.ydoc.transaction(origin=MCP_ORIGIN):
                yield nb

    def cursor(self, api_path: str) -> str:
        """Where the notebook's change feed is now (after a call that opened its room)."""
        return self._change_log(self.room_id(api_path)).cursor

    def changes(self, api_path: str, since: str | None) -> list[dict[str, Any]]:
        """The notebook's changes after cursor `since` (None: since MCP opened its room)."""
        log = self._change_log(self.room_id(api_path))
        return log.since(since if since is not None else log.start)

    def _change_log(self, room_id: str) -> ChangeLog:
        room, log = self._logs.get(room_id, (None, None))
        if log is None or room is not self._rooms.get(room_id):
            raise NotebookError(
                "The notebook's room was closed and opened again since this cursor: read the "
                "notebook again (notebook_get) for a new cursor."
            )
        return log

    def _close_log(self, room_id: str) -> None:
        _, log = self._logs.pop(room_id, (None, None))
        if log is not None:
            log.close()

    def _author(self, room: DocumentRoom, clients: set[int], mcp: bool) -> dict[str, Any] | None:
        """Who made a transaction in the room: this server's tools, the people whose Yjs
        clients inserted content, or, for a deletion (which names no client), the only
        person connected; None when that cannot be known."""
        user = self._presence.user
        if mcp:
            return {"name": user["name"], "display_name": user["display_name"], "is_mcp": True}
        people = {u["id"]: u for u in _awareness_users(room) if not u["is_mcp"]}
        authors = [people[c] for c in clients if c in people]
        if not authors and not clients and len(people) == 1:
            authors = list(people.values())
        if authors:
            person = authors[0]
            return {"name": person.get("name"), "display_name": person.get("display_name"),
                    "is_mcp": False}  # fmt: skip
        if clients and clients <= {room.ydoc.client_id}:
            return SERVER_AUTHOR  # the server's own document: a file reloaded from disk
        return None

    @asynccontextmanager
    async def in_use(self, room_id: str) -> AsyncIterator[None]:
        """Keep the notebook's room open (and the agent shown there) for a long operation,
        such as a running cell or a watch, whether or not it touches the room meanwhile."""
        self._in_use[room_id] += 1
        try:
            yield
        finally:
            self._in_use[room_id] -= 1
            if not self._in_use[room_id]:
                del self._in_use[room_id]
            self._last_used[room_id] = time.monotonic()

    def users(self, api_path: str) -> list[dict[str, Any]]:
        room = self.existing(api_path)
        return [] if room is None else _awareness_users(room)

    async def describe(self) -> list[dict[str, Any]]:
        sessions = await ensure_async(self._serverapp.session_manager.list_sessions())
        with_kernel = {s["path"] for s in sessions if s.get("kernel")}
        rows = []
        for room_id, room in list(self._rooms.items()):
            if not isinstance(room, DocumentRoom) or _stopped(room):
                continue
            path = _path(room)
            if path is None or not await self._file_exists(room):
                continue  # its file was deleted or moved away: the room is closing
            users = _awareness_users(room)
            rows.append(
                {
                    "room_id": room_id,
                    "path": path,
                    "file_id": _file_id(room_id),
                    "users": users,
                    "user_count": len(room.clients),
                    "has_kernel": path in with_kernel,
                }
            )
        return rows

    async def sweep(self, idle_timeout: float, presence_timeout: float) -> None:
        """Close the rooms MCP used that have been idle for `idle_timeout` seconds with
        nobody connected, and those whose file is gone; withdraw the agent's presence from
        notebooks it has not used for `presence_timeout` seconds.

        A room the collaboration extension is about to delete (its last client left) is
        left to it, unless a running cell or a watch still needs the room."""
        self._presence.refresh(presence_timeout, set(self._in_use), self._rooms)
        now = time.monotonic()
        for room_id, last_used in list(self._last_used.items()):
            room = self._rooms.get(room_id)
            if not isinstance(room, DocumentRoom) or _stopped(room):
                self._forget(room_id)
            elif room.clients or _room_lock(self._ydoc, room_id).locked():
                continue  # in use, or someone is joining it or loading it
            elif _path(room) is None or not await self._file_exists(room):
                await self.close(room_id)
            elif room_id in self._in_use:
                _keep(room)
            elif not _cleaning(room) and now - last_used >= idle_timeout:
                await self.close(room_id)

    async def _file_exists(self, room: DocumentRoom) -> bool:
        path = _path(room)
        return path is not None and await ensure_async(
            self._serverapp.contents_manager.file_exists(path)
        )

    async def _on_contents_event(self, logger: Any, schema_id: str, data: dict) -> None:
        """Close at once the rooms, with nobody in them, of a deleted file. (A rename needs
        nothing: the file-id manager follows it, and so does the room.)"""
        if data.get("action") == "delete":
            for room_id in list(self._last_used):
                room = self._rooms.get(room_id)
                if isinstance(room, DocumentRoom) and not room.clients:
                    if not await self._file_exists(room):
                        await self.close(room_id)

    async def _on_awareness_event(self, logger: Any, schema_id: str, data: dict) -> None:
        """When the last person leaves a room that MCP uses, the collaboration extension's
        cleaner would delete it after its cleanup delay and cancel its pending autosave. A
        room a run or watch needs is kept (the idle sweeper closes it later); one with
        unsaved changes is closed by MCP after that same delay, saving it first.

        The cleaner is created just before the leave is emitted, so this runs before the
        cleaner gets past its first await, even with no cleanup delay."""
        room_id = data.get("roomid", "")
        room = self._rooms.get(room_id)
        if data.get("action") != "leave" or not isinstance(room, DocumentRoom):
            return
        delay = self._ydoc.document_cleanup_delay  # None: rooms are never deleted
        used = self._opened.get(room_id, (None,))[0] is room
        if delay is None or not used or not _cleaning(room):
            return
        if room_id in self._in_use:
            _keep(room)
        elif has_unsaved_changes(room):
            _keep(room)
            left = time.monotonic()
            await asyncio.sleep(delay)
            idle = self._last_used.get(room_id, left) <= left and room_id not in self._in_use
            if idle and self._rooms.get(room_id) is room:
                await self.close(room_id)  # unless someone came back meanwhile

    async def _on_room_event(self, logger: Any, schema_id: str, data: dict) -> None:
        """Follow a room's saves and reloads: when the room was reloaded from a file that
        replaced it (jupyter-collaboration lets the file win), the MCP edits that the new
        file does not hold are kept beside it and reported to the next call."""
        room_id = data.get("room", "")
        if data.get("action") == "save":
            self._unsaved.saved(room_id)
            room, _ = self._opened.get(room_id, (None, b""))
            if room is not None and room is self._rooms.get(room_id):
                self._opened[room_id] = (room, room.ydoc.get_state())
        elif data.get("action") == "overwrite":
            await self._report_lost_edits(room_id)
        elif data.get("action") == "clean":
            await self._save_deleted(room_id)

    async def _save_deleted(self, room_id: str) -> None:
        """Save what changed in a room MCP used that the collaboration extension deleted
        (its last client left) before its autosave ran: deleting a room cancels its pending
        autosave. A room opened again in the meantime loaded the file before this save, so
        it is brought up to date with the file, as on any change on disk."""
        async with self._handover_locks[room_id]:
            old, state = self._opened.get(room_id, (None, b""))
            current = self._rooms.get(room_id)
            if old is None or old is current:
                return
            del self._opened[room_id]
            if not self._unsaved.pending(room_id) and old.ydoc.get_state() == state:
                return
            await self.save(old, _live_document(old).get())
            self._unsaved.forget(room_id)
            if isinstance(current, DocumentRoom) and current.ready and not _stopped(current):
                await _reload(current)

    async def _report_lost_edits(self, room_id: str) -> None:
        room = self._rooms.get(room_id)
        path = _path(room) if isinstance(room, DocumentRoom) else None
        if path is None:
            self._unsaved.forget(room_id)
            return
        manager = self._serverapp.contents_manager
        try:
            model = await ensure_async(manager.get(path, type="notebook", content=True))
        except web.HTTPError:
            self._unsaved.forget(room_id)  # unreadable now: the room keeps its content
            return
        lost = self._unsaved.lost(room_id, model["content"])
        if not lost:
            return
        kept = None
        if any(edit.source is not None for edit in lost):
            content = lost_cells(lost, model["content"].get("metadata", {}))
            kept = await self._keep_beside(path, content)
        self._log.warning(
            "jupyter_mcp: %s was replaced on disk before %d MCP edits were saved; they are "
            "kept in %s",
            path,
            len(lost),
            kept,
        )
        self._unsaved.tell(room_id, describe(path, lost, kept))
        room_log = self._logs.get(room_id, (None, None))[1]
        if room_log is not None:
            replaced = {"kind": "file_replaced", "lost": [e.what for e in lost], "kept_in": kept}
            room_log.record(replaced, SERVER_AUTHOR)

    async def close(self, room_id: str) -> None:
        """Save the room's document and delete the room, unless a client is connected."""
        ydoc = self._ydoc
        # The edit lock first, as edits take it before opening the room (under the room lock).
        async with self._edit_locks[room_id], _room_lock(ydoc, room_id):
            room = self._rooms.get(room_id)
            if not isinstance(room, DocumentRoom) or room.clients:
                return
            file_id = _file_id(room_id)
            if has_unsaved_changes(room):
                await self.save(room, _live_document(room).get())
            await ydoc.ywebsocket_server.delete_room(room=room)
            if file_id in ydoc.file_loaders:
                if ydoc.file_loaders[file_id].number_of_subscriptions == 0:
                    await ydoc.file_loaders.remove(file_id)
        self._forget(room_id)

    def _forget(self, room_id: str) -> None:
        self._last_used.pop(room_id, None)
        self._opened.pop(room_id, None)
        self._close_log(room_id)
        self._unsaved.forget(room_id)
        for locks in (self._edit_locks, self._handover_locks):
            lock = locks.get(room_id)
            if lock is not None and not lock.locked():
                del locks[room_id]

    def snapshot(self) -> list[tuple[DocumentRoom, dict[str, Any] | None, list[Any]]]:
        """(room, unsaved content or None, websocket clients) of every open notebook room."""
        result = []
        for room in list(self._rooms.values()):
            ready = isinstance(room, DocumentRoom) and room.ready and not _stopped(room)
            if ready and room.file_type == "notebook":
                unsaved = _live_document(room).get() if has_unsaved_changes(room) else None
                result.append((room, unsaved, list(room.clients)))
        return result

    async def save(self, room: DocumentRoom, content: dict[str, Any]) -> None:
        """Write the room's unsaved `content` to its file, never over newer content.

        Goes through the room's own file loader, as its autosave does (the collaboration
        extension cancels that autosave when it stops or deletes the room): the loader
        refuses a file changed on disk since the room loaded or last saved it. Then the file
        wins, as it does when jupyter-collaboration meets such a change, and the room's
        content is kept beside it.
        """
        loader = _file_loader(room)
        path = _path(room)
        if path is None or not await self._file_exists(room):
            self._log.info("jupyter_mcp: %s is gone; its room's changes are not saved", path)
            return
        try:
            await loader.maybe_save_content(
                {"format": "json", "type": "notebook", "content": content}
            )
        except OutOfBandChanges:
            kept = await self._keep_beside(path, content)
            self._log.warning(
                "jupyter_mcp: %s changed on disk while its room had unsaved changes: the file "
                "is kept, the room's content is saved as %s",
                path,
                kept,
            )

    async def _keep_beside(self, api_path: str, content: dict[str, Any]) -> str:
        stem, _, _ = api_path.rpartition(".ipynb")
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        kept = f"{stem}.unsaved-{stamp}.ipynb"
        model = {"type": "notebook", "format": "json", "content": content}
        await ensure_async(self._serverapp.contents_manager.save(model, kept))
        return kept


def has_unsaved_changes(room: DocumentRoom) -> bool:
    """Whether the room holds edits its autosave has not written yet: the collaboration
    extension schedules an autosave after every change and keeps the task (no public
    accessor). Without one pending, the file already has the room's content, or newer."""
    saving = room._saving_document
    return saving is not None and not saving.done()


def _path(room: DocumentRoom) -> str | None:
    """The room's file path now (renames and moves followed); None once the file is gone."""
    try:
        return _file_loader(room).path
    except RuntimeError:  # the file-id manager forgot the file: it was deleted
        return None


def _cleaning(room: DocumentRoom) -> bool:
    """Whether the collaboration extension will delete the room: its last client left."""
    return room.cleaner is not None and not room.cleaner.done()


def _keep(room: DocumentRoom) -> None:
    """Keep a room that MCP still uses from being deleted by the collaboration extension,
    which would cancel its pending autosave; MCP's idle sweeper saves and closes it."""
    if _cleaning(room):
        room.cleaner.cancel()


async def _reload(room: DocumentRoom) -> None:
    """Load the file into the room, as the collaboration extension does on a change on disk
    (under the room's update lock, so that the reload schedules no autosave)."""
    model = await _file_loader(room).load_content(room._file_format, room._file_type)
    async with room._update_lock:
        document = _live_document(room)
        if await document.aget() != model["content"]:
            await document.aset(model["content"])


async def _settled(room: DocumentRoom) -> None:
    """Wait while the collaboration extension loads or reloads the room's document: it sets
    the document cell by cell, yielding to the loop, so until then the document is half
    there, and an edit made meanwhile would land in the middle of the load."""
    if room._update_lock.locked():
        async with room._update_lock:
            pass


def _file_loader(room: DocumentRoom) -> FileLoader:
    # The room's own loader, which knows when the room last loaded or saved the file; it
    # has no public accessor.
    return room._file


def _room_lock(ydoc: YDocExtension, room_id: str) -> asyncio.Lock:
    # The lock jupyter_server_ydoc holds while it creates, loads or deletes a room; it has no
    # public accessor, and taking any other lock would race with the websocket handler.
    return ydoc._room_locks[room_id]


def _stopped(room: DocumentRoom) -> bool:
    # pycrdt-websocket drops a room's task group when it stops the room; no public flag.
    return room._task_group is None


def _live_document(room: DocumentRoom) -> YNotebook:
    # get_document(copy=False) returns this same object, but it awaits the room lock, which
    # close() already holds and the shutdown snapshot must not wait for.
    return room._document


def _awareness_users(room: DocumentRoom) -> list[dict[str, Any]]:
    own = room.awareness.client_id
    return [
        {"id": client_id, **state["user"], "is_mcp": client_id == own}
        for client_id, state in room.awareness.states.items()
        if isinstance(state, dict) and isinstance(state.get("user"), dict)
    ]
