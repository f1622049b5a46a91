"""A Jupyter server extension that serves the collaboration rooms in place of
jupyter_server_ydoc, as jupyter-server-documents does."""

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.serverapp import ServerApp


class OtherRoomHandler(JupyterHandler):
    def get(self, room_id: str) -> None:
        self.finish({"room": room_id})


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "other_rooms"}]


def _load_jupyter_server_extension(serverapp: ServerApp) -> None:
    base_url = serverapp.base_url.rstrip("/")
    route = f"{base_url}/api/collaboration/room/(.*)"
    serverapp.web_app.add_handlers(".*$", [(route, OtherRoomHandler)])
