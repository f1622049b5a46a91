"""Serve an ASGI application from a Jupyter Server (Tornado) handler, behind Jupyter's auth."""

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import ensure_async
from tornado import web
from tornado.iostream import StreamClosedError

from .authorization import Permission

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

# Framing is Tornado's job: it sets its own Content-Length or chunked encoding.
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection"}


Refusal = Callable[[bytes, Permission], bytes | None]


class ASGIHandler(APIHandler):
    """Forwards one HTTP request to an ASGI app mounted at `asgi_path`.

    Anonymous callers are refused with 401 whatever `allow_unauthenticated_access` says.
    Every request needs `contents:read`; `permissions(body)` names what a request body needs
    beyond that, and when the authorizer denies it, `refusal(body, permission)` is the
    response sent instead of forwarding the request.
    """

    auth_resource = "contents"

    def initialize(
        self,
        app: ASGIApp,
        asgi_path: str,
        ready: asyncio.Event,
        permissions: Callable[[bytes], set[Permission]],
        refusal: Refusal,
    ) -> None:
        self._app = app
        self._asgi_path = asgi_path
        self._ready = ready
        self._permissions = permissions
        self._refusal = refusal
        self._disconnected = asyncio.Event()

    async def prepare(self) -> None:
        await super().prepare()
        if self.current_user is None:
            raise web.HTTPError(
                401, "Authentication required: send the header 'Authorization: token <token>'."
            )

    def on_connection_close(self) -> None:
        self._disconnected.set()

    @authorized(action="read")
    async def get(self) -> None:
        await self._forward()

    @authorized(action="read")
    async def post(self) -> None:
        for permission in sorted(self._permissions(self.request.body)):
            if not await ensure_async(
                self.authorizer.is_authorized(self, self.current_user, *permission)
            ):
                refusal = self._refusal(self.request.body, permission)
                if refusal is None:
                    raise web.HTTPError(403, f"Not authorized to {permission[0]} {permission[1]}")
                self.finish(refusal)
                return
        await self._forward()

    @authorized(action="read")
    async def delete(self) -> None:
        await self._forward()

    async def _forward(self) -> None:
        await self._ready.wait()
        request = self.request
        host, _, port = request.host.rpartition(":")
        scope: Message = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.version.removeprefix("HTTP/"),
            "method": request.method,
            "scheme": request.protocol,
            "path": self._asgi_path,
            "raw_path": self._asgi_path.encode(),
            "root_path": "",
            "query_string": request.query.encode("latin-1"),
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in request.headers.get_all()
            ],
            "client": (request.remote_ip, 0),
            "server": (host or request.host, int(port) if port.isdigit() else None),
        }
        body_sent = False
        content_type = "application/json"

        async def receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": request.body or b"", "more_body": False}
            await self._disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal content_type
            if self._disconnected.is_set():
                return
            if message["type"] == "http.response.start":
                self.set_status(message["status"])
                for name, value in message.get("headers", []):
                    key, text = name.decode("latin-1").lower(), value.decode("latin-1")
                    if key == "content-type":
                        content_type = text
                        self.set_header("Content-Type", text)
                    elif key not in _HOP_HEADERS:
                        self.add_header(key, text)
            elif message["type"] == "http.response.body":
                self.write(message.get("body", b""))
                if message.get("more_body", False):
                    try:
                        await self.flush()
                    except StreamClosedError:
                        self._disconnected.set()

        try:
            await self._app(scope, receive, send)
        finally:
            self._disconnected.set()
        if not self._finished:
            # APIHandler.finish would otherwise force a JSON content type on SSE streams.
            self.finish(set_content_type=content_type)
