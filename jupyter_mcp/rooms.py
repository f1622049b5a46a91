"""Room resolution: the live YNotebook of a file, shared with JupyterLab, one room per notebook.

Nothing here keeps a YNotebook across calls: the websocket handler may delete a room at any
time after its last client leaves, so every call resolves the room again.
"""

import asyncio
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
from jupyter_server_ydoc.utils import OutOfBandChanges
from jupyter_ydoc import YNotebook

from .errors import NotebookError
from .presence import GLOBAL_AWARENESS_ROOM, Presence


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
        self._in_use: Counter[str] = Counter()
        self._opened_by_mcp: set[str] = set()
        self._presence = Presence(user)

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

    async def notebook(self, api_path: str) -> YNotebook:
        """The live document of an existing notebook file, opening its room if needed."""
        room_id = self.room_id(api_path)
        return await self._open(api_path, room_id)

    async def _open(self, api_path: str, room_id: str) -> YNotebook:
        ydoc = self._ydoc
        if room_id not in self._rooms:
            self._opened_by_mcp.add(room_id)
        document = await ydoc.get_document(room_id=room_id, copy=False, create=True)
        room = self._rooms.get(room_id)
        if not isinstance(room, DocumentRoom) or not isinstance(document, YNotebook):
            raise NotebookError(f"'{api_path}' could not be opened as a notebook.")
        if not room.ready:
            # A room the websocket handler registered but has not loaded yet, or one whose
            # load failed: load it under the lock the handler itself uses.
            async with _room_lock(ydoc, room_id):
                await room.initialize()
        if room.cleaner is not None and not room.cleaner.done():
            # The last client left and the handler will delete the room, cancelling any
            # pending autosave: keep it, as the handler does when a client reconnects, and
            # let the idle sweeper save and close it.
            room.cleaner.cancel()
            self._opened_by_mcp.add(room_id)
        self._last_used[room_id] = time.monotonic()
        self._presence.show(room_id, api_path, room, self._rooms.get(GLOBAL_AWARENESS_ROOM))
        return document

    async def live(self, room_id: str) -> tuple[str, YNotebook] | None:
        """The current path and live document of the notebook whose room is `room_id`,
        following renames and moves; None once its file is gone."""
        path = self._file_ids.get_path(_file_id(room_id))
        manager = self._serverapp.contents_manager
        if path is None or not await ensure_async(manager.file_exists(path)):
            return None
        return path, await self._open(path, room_id)

    @asynccontextmanager
    async def editing(self, api_path: str) -> AsyncIterator[YNotebook]:
        """The live document, with the notebook's MCP edits serialised."""
        room_id = self.room_id(api_path)
        async with self._edit_locks[room_id]:
            yield await self._open(api_path, room_id)

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
            if not isinstance(room, DocumentRoom):
                continue
            file_id = _file_id(room_id)
            path = self._file_ids.get_path(file_id)
            users = _awareness_users(room)
            rows.append(
                {
                    "room_id": room_id,
                    "path": path,
                    "file_id": file_id,
                    "users": users,
                    "user_count": len(room.clients),
                    "has_kernel": path in with_kernel,
                }
            )
        return rows

    async def sweep(self, idle_timeout: float, presence_timeout: float) -> None:
        """Close MCP-opened rooms idle for `idle_timeout` seconds and without clients; withdraw
        the agent's presence from notebooks it has not used for `presence_timeout` seconds."""
        global_room = self._rooms.get(GLOBAL_AWARENESS_ROOM)
        self._presence.refresh(presence_timeout, set(self._in_use), global_room)
        now = time.monotonic()
        for room_id, last_used in list(self._last_used.items()):
            room = self._rooms.get(room_id)
            if not isinstance(room, DocumentRoom):
                self._forget(room_id)
                continue
            idle = 0.0 if room_id in self._in_use else now - last_used
            if room_id in self._opened_by_mcp and idle >= idle_timeout and not room.clients:
                await self.close(room_id)

    async def close(self, room_id: str) -> None:
        """Save the room's document and delete the room, unless a client is connected."""
        ydoc = self._ydoc
        async with _room_lock(ydoc, room_id), self._edit_locks[room_id]:
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
        self._opened_by_mcp.discard(room_id)
        lock = self._edit_locks.get(room_id)
        if lock is not None and not lock.locked():
            del self._edit_locks[room_id]

    def snapshot(self) -> list[tuple[DocumentRoom, dict[str, Any] | None, list[Any]]]:
        """(room, unsaved content or None, websocket clients) of every open notebook room."""
        result = []
        for room in list(self._rooms.values()):
            if isinstance(room, DocumentRoom) and room.ready and room.file_type == "notebook":
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
        path = loader.path
        manager = self._serverapp.contents_manager
        if not path or not await ensure_async(manager.file_exists(path)):
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


def _file_loader(room: DocumentRoom) -> FileLoader:
    # The room's own loader, which knows when the room last loaded or saved the file; it
    # has no public accessor.
    return room._file


def _room_lock(ydoc: YDocExtension, room_id: str) -> asyncio.Lock:
    # The lock jupyter_server_ydoc holds while it creates, loads or deletes a room; it has no
    # public accessor, and taking any other lock would race with the websocket handler.
    return ydoc._room_locks[room_id]


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
