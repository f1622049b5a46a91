"""A person's kernel connection, as JupyterLab's is: the kernel channels websocket of the
notebook's session, with Jupyter's JSON message protocol."""

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import websockets

from .servers import Server


async def session_kernel(server: Server, path: str) -> str:
    """The id of the kernel of the notebook's session, starting one as JupyterLab does."""
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
        response = await http.post(
            "api/sessions",
            json={"path": path, "type": "notebook", "name": path, "kernel": {"name": "python3"}},
        )
        response.raise_for_status()
        return response.json()["kernel"]["id"]


class KernelChannels:
    def __init__(self, server: Server, kernel_id: str) -> None:
        self.server, self.kernel_id = server, kernel_id
        self.session = uuid.uuid4().hex
        self._replies: dict[str, asyncio.Future] = {}
        self.streams: dict[str, str] = {}  # msg id -> stdout text

    async def __aenter__(self) -> "KernelChannels":
        url = (
            f"ws://127.0.0.1:{self.server.port}{self.server.base_url}api/kernels/"
            f"{self.kernel_id}/channels?session_id={self.session}"
        )
        self.ws = await websockets.connect(url, additional_headers=self.server.headers)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await self.ws.close()

    async def execute(self, code: str) -> asyncio.Future:
        """Send `code` to run; the future resolves to the execute_reply's content."""
        msg_id = uuid.uuid4().hex
        self._replies[msg_id] = asyncio.get_running_loop().create_future()
        self.streams[msg_id] = ""
        message = {
            "header": {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "username": "ada",
                "session": self.session,
                "date": datetime.now(UTC).isoformat(),
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            "channel": "shell",
            "buffers": [],
        }
        await self.ws.send(json.dumps(message))
        return self._replies[msg_id]

    async def _read(self) -> None:
        async for raw in self.ws:
            message: dict[str, Any] = json.loads(raw)
            parent = message.get("parent_header", {}).get("msg_id")
            kind = message.get("msg_type") or message["header"]["msg_type"]
            if kind == "stream" and parent in self.streams:
                self.streams[parent] += message["content"]["text"]
            elif kind == "execute_reply" and parent in self._replies:
                self._replies[parent].set_result(message["content"])
