"""Serve an ASGI application from a Jupyter Server (Tornado) handler, behind Jupyter's auth."""

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlparse

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
UNAUTHENTICATED = (
    "Authentication required: send the Jupyter token as the header "
    "'Authorization: token <token>' (or ?token=<token>)."
)
# Headers MCP clients in a browser send and read, for CORS.
MCP_REQUEST_HEADERS = "mcp-session-id, mcp-protocol-version, last-event-id"
MCP_RESPONSE_HEADERS = "mcp-session-id"


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
        max_request_bytes: int,
        unavailable: Callable[[], str | None],
    ) -> None:
        self._app = app
        self._asgi_path = asgi_path
        self._ready = ready
        self._permissions = permissions
        self._refusal = refusal
        self._max_request_bytes = max_request_bytes
        self._unavailable = unavailable
        self._disconnected = asyncio.Event()

    async def prepare(self) -> None:
        if self.request.method == "OPTIONS":
            # A CORS preflight carries no credentials; Jupyter's CORS settings answer it.
            await super().prepare()
            return
        if not self._origin_allowed():
            # Token or not: a page of another site must not drive the agent tools (DNS
            # rebinding), unless Jupyter's allow_origin settings say it may.
            raise web.HTTPError(
                403, f"Origin {self.request.headers['Origin']} is not allowed to use /mcp."
            )
        await super().prepare()
        if self.current_user is None:
            raise web.HTTPError(401, UNAUTHENTICATED)
        if reason := self._unavailable():
            raise web.HTTPError(503, f"jupyter-mcp is disabled on this server: {reason}")
        if self.request.method == "POST":
            self._check_body()

    def check_xsrf_cookie(self) -> None:
        if getattr(self, "_jupyter_current_user", False) is None:
            # No credentials, or wrong ones: say so, rather than ask for an XSRF cookie.
            raise web.HTTPError(401, UNAUTHENTICATED)
        if not self.identity_provider.auth_enabled:
            # The explicit tokenless opt-in: there is no credential for a cross-site request
            # to ride on; the Origin check in prepare() still applies.
            return
        super().check_xsrf_cookie()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # A JSON-RPC-shaped body, which every MCP client can show, rather than Jupyter's.
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = error.log_message if isinstance(error, web.HTTPError) else None
        self.set_header("Content-Type", "application/json")
        body = {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32000 - status_code, "message": message or self._reason},
        }
        self.finish(json.dumps(body))

    def options(self, *args: Any, **kwargs: Any) -> None:
        super().options(*args, **kwargs)
        allowed = self._headers.get("Access-Control-Allow-Headers", "")
        self.set_header("Access-Control-Allow-Headers", f"{allowed}, {MCP_REQUEST_HEADERS}")
        self.set_header("Access-Control-Expose-Headers", MCP_RESPONSE_HEADERS)

    def _origin_allowed(self) -> bool:
        """Jupyter's own rule (check_origin), without its exemption of token requests."""
        origin = self.request.headers.get("Origin")
        if origin is None or self.allow_origin == "*":
            return True
        if urlparse(origin.lower()).netloc == self.request.headers.get("Host"):
            return True
        if self.allow_origin:
            return self.allow_origin == origin
        if self.allow_origin_pat:
            return re.fullmatch(self.allow_origin_pat, origin) is not None
        return False

    def _check_body(self) -> None:
        size = len(self.request.body or b"")
        if size > self._max_request_bytes:
            raise web.HTTPError(
                413,
                f"The request is {size:,} bytes; this server takes at most "
                f"{self._max_request_bytes:,} (MCPExtension.max_request_bytes). Split the work: "
                "put the source in several cells, or edit a cell in several calls.",
            )
        if self.request.body.lstrip().startswith(b"["):
            raise web.HTTPError(
                400, "JSON-RPC batches are not supported (MCP dropped them): send one request."
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
                if self.request.headers.get("Origin"):
                    self.set_header("Access-Control-Expose-Headers", MCP_RESPONSE_HEADERS)
                if content_type.startswith("text/event-stream"):
                    # A stream's status and headers go out now, not with its first event.
                    try:
                        await self.flush()
                    except StreamClosedError:
                        self._disconnected.set()
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
