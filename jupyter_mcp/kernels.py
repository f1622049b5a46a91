"""The notebook's own kernel: the session JupyterLab uses for the file, its client, its queue."""

import asyncio
import posixpath
from collections import defaultdict
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import ensure_async

from .errors import NotebookError


class Kernels:
    """Finds or starts each notebook's session kernel and serialises executions on it."""

    def __init__(self, serverapp: ServerApp) -> None:
        self._serverapp = serverapp
        self._session_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._queues: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._clients: dict[str, tuple[Any, AsyncKernelClient]] = {}
        self._restarts: defaultdict[str, int] = defaultdict(int)

    async def find(self, api_path: str) -> str | None:
        """The id of the kernel of the notebook's session, if it has one."""
        sessions = await ensure_async(self._serverapp.session_manager.list_sessions())
        for session in sessions:
            if session.get("path") == api_path and session.get("kernel"):
                return session["kernel"]["id"]
        return None

    async def ensure(self, api_path: str, kernelspec: str | None) -> str:
        """The notebook's session kernel, started with its kernelspec (else the default)
        when there is none; started once even when several calls race for it."""
        async with self._session_locks[api_path]:
            kernel_id = await self.find(api_path)
            if kernel_id is not None:
                return kernel_id
            specs = await ensure_async(self._serverapp.kernel_spec_manager.get_all_specs())
            name = kernelspec if kernelspec in specs else None
            session = await ensure_async(
                self._serverapp.session_manager.create_session(
                    path=api_path,
                    name=posixpath.basename(api_path),
                    type="notebook",
                    kernel_name=name or self._serverapp.kernel_manager.default_kernel_name,
                )
            )
            return session["kernel"]["id"]

    def queue(self, kernel_id: str) -> asyncio.Lock:
        """Held for one execution: two executions sharing a client would steal each
        other's messages, and the kernel runs them one at a time anyway."""
        return self._queues[kernel_id]

    async def client(self, kernel_id: str) -> AsyncKernelClient:
        manager = self._kernel_manager(kernel_id)
        cached = self._clients.get(kernel_id)
        if cached is not None and cached[0] is manager:
            return cached[1]
        if cached is not None:
            cached[1].stop_channels()
        client = manager.client()
        client.start_channels()
        await client.wait_for_ready(timeout=60)
        self._clients[kernel_id] = (manager, client)
        return client

    async def is_alive(self, kernel_id: str) -> bool:
        try:
            return bool(await ensure_async(self._kernel_manager(kernel_id).is_alive()))
        except NotebookError:
            return False

    async def interrupt(self, kernel_id: str) -> None:
        await ensure_async(self._serverapp.kernel_manager.interrupt_kernel(kernel_id))

    async def restart(self, kernel_id: str) -> None:
        self._restarts[kernel_id] += 1
        self.forget(kernel_id)
        await ensure_async(self._serverapp.kernel_manager.restart_kernel(kernel_id))

    def restarts(self, kernel_id: str) -> int:
        """How often this server restarted the kernel: an execution that saw the count
        change lost its kernel."""
        return self._restarts[kernel_id]

    def forget(self, kernel_id: str) -> None:
        cached = self._clients.pop(kernel_id, None)
        if cached is not None:
            cached[1].stop_channels()

    def close(self) -> None:
        for kernel_id in list(self._clients):
            self.forget(kernel_id)

    def _kernel_manager(self, kernel_id: str) -> Any:
        try:
            return self._serverapp.kernel_manager.get_kernel(kernel_id)
        except KeyError:
            raise NotebookError(f"Kernel {kernel_id} is no longer running.") from None
