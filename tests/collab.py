"""A collaborator that joins a notebook room the way JupyterLab does: Yjs sync and awareness
over /api/collaboration/room/json:notebook:<fileId>."""

import asyncio
import contextlib
from typing import Any
from urllib.parse import quote

import httpx
import websockets
from jupyter_ydoc import YNotebook
from pycrdt import (
    Awareness,
    Doc,
    YMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    read_message,
)

from .servers import Server


class Collaborator:
    def __init__(self, server: Server, path: str, name: str = "Ada") -> None:
        self.server = server
        self.path = path
        self.name = name
        self.doc = Doc()
        self.notebook = YNotebook(self.doc)
        self.awareness = Awareness(self.doc)
        self.synced = asyncio.Event()
        self.file_id = ""
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> "Collaborator":
        async with httpx.AsyncClient(headers=self.server.headers) as http:
            response = await http.put(
                f"{self.server.url}api/collaboration/session/{quote(self.path)}",
                json={"format": "json", "type": "notebook"},
            )
            response.raise_for_status()
            session = response.json()
        self.file_id = session["fileId"]
        ws_url = (
            f"ws://127.0.0.1:{self.server.port}{self.server.base_url}api/collaboration/room/"
            f"json:notebook:{self.file_id}?sessionId={session['sessionId']}"
        )
        self.ws = await websockets.connect(
            ws_url, additional_headers=self.server.headers, max_size=None
        )
        self._events = self.doc.events()
        self._tasks = [
            asyncio.create_task(self._receive()),
            asyncio.create_task(self._send_updates()),
        ]
        await self.ws.send(create_sync_message(self.doc))
        await asyncio.wait_for(self.synced.wait(), 10)
        self.awareness.set_local_state(
            {"user": {"username": self.name.lower(), "name": self.name, "display_name": self.name}}
        )
        await self.ws.send(
            create_awareness_message(
                self.awareness.encode_awareness_update([self.awareness.client_id])
            )
        )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        # Stop collecting this document's updates (works on every pycrdt 0.14 release).
        self._events.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.ws.close()

    async def _receive(self) -> None:
        async for message in self.ws:
            if isinstance(message, str):
                continue
            if message[0] == YMessageType.SYNC:
                reply = handle_sync_message(message[1:], self.doc)
                if message[1] == 1:  # SYNC_STEP2: the server's state is applied
                    self.synced.set()
                if reply is not None:
                    await self.ws.send(reply)
            elif message[0] == YMessageType.AWARENESS:
                self.awareness.apply_awareness_update(read_message(message[1:]), "remote")

    async def _send_updates(self) -> None:
        async with self._events as events:
            async for event in events:
                await self.ws.send(create_update_message(event.update))

    def remote_users(self) -> list[dict[str, Any]]:
        return [
            state["user"]
            for client_id, state in self.awareness.states.items()
            if client_id != self.awareness.client_id and "user" in (state or {})
        ]

    def sources(self) -> list[str]:
        return [str(cell["source"]) for cell in self.notebook.ycells]
