"""Authorizers that test servers load with --ServerApp.authorizer_class, as JupyterHub's
role-based access control would restrict a user."""

from jupyter_server.auth import User
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.base.handlers import JupyterHandler


class NoKernels(Authorizer):
    """May read and edit notebooks, may not run code."""

    def is_authorized(
        self, handler: JupyterHandler, user: User, action: str, resource: str
    ) -> bool:
        return resource != "kernels"


class ReadOnly(Authorizer):
    """May only read."""

    def is_authorized(
        self, handler: JupyterHandler, user: User, action: str, resource: str
    ) -> bool:
        return action == "read"
