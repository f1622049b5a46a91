"""A Jupyter server extension that also serves /mcp, as jupyter-mcp-server does."""

from jupyter_server.base.handlers import APIHandler
from jupyter_server.serverapp import ServerApp


class OtherMCPHandler(APIHandler):
    def post(self) -> None:
        self.finish({"served_by": "other_mcp"})


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "other_mcp"}]


def _load_jupyter_server_extension(serverapp: ServerApp) -> None:
    base_url = serverapp.base_url.rstrip("/")
    serverapp.web_app.add_handlers(".*$", [(f"{base_url}/mcp/?", OtherMCPHandler)])
