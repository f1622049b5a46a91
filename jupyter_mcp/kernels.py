"""The notebook's own kernel: the session JupyterLab uses for the file, its client, its queue."""

import asyncio
import contextlib
import posixpath
import time
from collections import defaultdict
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import ensure_async
from jupyter_ydoc import YNotebook
from pycrdt import Map

from .errors import NotebookError


class KernelError(NotebookError):
    """The notebook's kernel cannot be started or does not answer."""


class Kernels:
    """Finds or starts each notebook's session kernel and serialises executions on it."""

    def __init__(self, serverapp: ServerApp, ready_timeout: float = 60.0) -> None:
        self._serverapp = serverapp
        self.ready_timeout = ready_timeout
        self._session_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._queues: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._clients: dict[str, tuple[Any, AsyncKernelClient]] = {}  # by incarnation

    async def find(self, api_path: str) -> str | None:
        """The id of the kernel of the notebook's session, if it has one."""
        session = await self._session(api_path)
        return None if session is None else session["kernel"]["id"]

    async def _session(self, api_path: str) -> dict[str, Any] | None:
        """The notebook's session with a kernel, if it has one."""
        sessions = await ensure_async(self._serverapp.session_manager.list_sessions())
        for session in sessions:
            if session.get("path") == api_path and session.get("kernel"):
                return session
        return None

    async def kernelspecs(self) -> dict[str, dict[str, str]]:
        """The installed kernelspecs: {name: {display_name, language}}."""
        specs = await ensure_async(self._serverapp.kernel_spec_manager.get_all_specs())
        return {
            name: {
                "display_name": entry["spec"].get("display_name", name),
                "language": entry["spec"].get("language", ""),
            }
            for name, entry in specs.items()
        }

    @property
    def default_kernelspec(self) -> str:
        return self._serverapp.kernel_manager.default_kernel_name

    async def switch(self, api_path: str, kernelspec: str) -> str | None:
        """Give the notebook's session a new kernel of `kernelspec` and shut the old one down,
        as JupyterLab's kernel picker does (PATCH /api/sessions/<id> with a kernel name);
        a session whose kernel already is one keeps it. The id of the session's kernel, or
        None when the notebook has no session (its next run starts one)."""
        sessions = self._serverapp.session_manager
        async with self._session_locks[api_path]:
            session = await self._session(api_path)
            if session is None:
                return None
            old = session["kernel"]["id"]
            if session["kernel"].get("name") == kernelspec:
                return old
            try:
                new = await sessions.start_kernel_for_session(
                    session["id"], path=session["path"], name=session["name"],
                    type=session["type"], kernel_name=kernelspec,
                )  # fmt: skip
            except Exception as error:
                raise KernelError(
                    f"The kernel '{kernelspec}' could not be started: {error}. The notebook "
                    "keeps its kernel; check the kernelspec (jupyter kernelspec list) and the "
                    "server log."
                ) from error
            await ensure_async(sessions.update_session(session["id"], kernel_id=new))
            await ensure_async(self._serverapp.kernel_manager.shutdown_kernel(old))
            self.forget(old)
            return new

    async def check_kernelspec(self, kernelspec: str | None) -> None:
        """Refuse a notebook whose kernel is not installed: running it in another kernel
        would attach that kernel to the notebook for JupyterLab too. (Checked by the tools
        before a run starts; ensure() then fails on its own if the kernel has gone since.)"""
        if kernelspec is None:
            return
        specs = await ensure_async(self._serverapp.kernel_spec_manager.get_all_specs())
        if kernelspec not in specs:
            raise KernelError(
                f"The notebook's kernel '{kernelspec}' is not installed on this server "
                f"(installed: {', '.join(sorted(specs)) or 'none'}). Install it, or change the "
                "notebook's kernelspec metadata to an installed kernel."
            )

    async def ensure(self, api_path: str, kernelspec: str | None) -> str:
        """The notebook's session kernel, started with its kernelspec (else the default)
        when there is none; started once even when several calls race for it."""
        async with self._session_locks[api_path]:
            kernel_id = await self.find(api_path)
            if kernel_id is not None:
                return kernel_id
            name = kernelspec or self._serverapp.kernel_manager.default_kernel_name
            try:
                session = await ensure_async(
                    self._serverapp.session_manager.create_session(
                        path=api_path,
                        name=posixpath.basename(api_path),
                        type="notebook",
                        kernel_name=name,
                    )
                )
            except Exception as error:
                raise KernelError(
                    f"The kernel '{name}' could not be started: {error}. Check its "
                    "kernelspec (jupyter kernelspec list) and the server log."
                ) from error
            return session["kernel"]["id"]

    def queue(self, kernel_id: str) -> asyncio.Lock:
        """Held for one execution until the kernel has replied: two executions sharing a
        client would steal each other's messages, and the kernel runs them one at a time."""
        return self._queues[kernel_id]

    async def client(self, kernel_id: str) -> AsyncKernelClient:
        """A connected client of the kernel as it is now, ready within `ready_timeout`. A
        kernel that died is waited for while Jupyter's restarter brings it back."""
        manager = self._kernel_manager(kernel_id)
        cached = self._clients.get(kernel_id)
        if cached is not None and cached[0] == self.incarnation(kernel_id):
            return cached[1]
        self.forget(kernel_id)
        deadline = time.monotonic() + self.ready_timeout
        reason = "it is not running"
        while time.monotonic() < deadline:
            if not await ensure_async(manager.is_alive()):
                await asyncio.sleep(0.2)
                continue
            client = manager.client()
            client.start_channels()
            try:
                await client.wait_for_ready(timeout=max(0.1, deadline - time.monotonic()))
            except (RuntimeError, TimeoutError) as error:
                client.stop_channels()
                reason = str(error)
                continue  # died while starting: the restarter may bring it back
            self._clients[kernel_id] = (self.incarnation(kernel_id), client)
            return client
        raise KernelError(
            f"The kernel {kernel_id} ({manager.kernel_name}) did not answer within "
            f"{self.ready_timeout:g} s ({reason}). Restart it with kernel_restart, or check its "
            "kernelspec and the server log."
        )

    def incarnation(self, kernel_id: str) -> tuple[object, object] | None:
        """What identifies the kernel's current process: a restart or death from anywhere
        (JupyterLab, the REST API, the kernel itself) changes it or ends it. The provisioner
        object survives restarts; the process it launches (LocalProvisioner.process) does
        not."""
        try:
            provisioner = self._kernel_manager(kernel_id).provisioner
        except NotebookError:
            return None
        return provisioner, getattr(provisioner, "process", None)

    async def is_same(self, kernel_id: str, incarnation: tuple[object, object] | None) -> bool:
        """Whether the kernel still runs in the process `incarnation` named."""
        # Neither provisioners nor processes define equality: == compares identities.
        if incarnation is None or self.incarnation(kernel_id) != incarnation:
            return False
        return bool(await ensure_async(self._kernel_manager(kernel_id).is_alive()))

    async def interrupt(self, kernel_id: str) -> None:
        await ensure_async(self._serverapp.kernel_manager.interrupt_kernel(kernel_id))

    async def restart(self, kernel_id: str) -> None:
        """Restart the kernel and return once the new one answers, as JupyterLab's restart
        does: Jupyter returns a future for that."""
        ready = await ensure_async(self._serverapp.kernel_manager.restart_kernel(kernel_id))
        if asyncio.isfuture(ready):
            try:
                await asyncio.wait_for(ready, self.ready_timeout)
            except (TimeoutError, RuntimeError) as error:
                raise NotebookError(
                    f"Kernel {kernel_id} was restarted but did not answer ({error}). Restart it "
                    "again, or check its logs."
                ) from None

    async def settle(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for kernels that are starting, stopping or
        restarting, then give up on them: Jupyter's shutdown fails on a kernel whose `ready`
        is unfinished, and the server would never exit. (A restart is a stop, then a start,
        each with a `ready` of its own.)"""
        deadline = time.monotonic() + timeout
        while pending := self._pending():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for ready in pending:
                    ready.cancel()
                return
            await asyncio.wait([asyncio.shield(f) for f in pending], timeout=remaining)

    def _pending(self) -> list[asyncio.Future]:
        manager = self._serverapp.kernel_manager
        pending = []
        for kernel_id in list(manager.list_kernel_ids()):
            with contextlib.suppress(KeyError):
                ready = manager.get_kernel(kernel_id).ready
                if asyncio.isfuture(ready) and not ready.done():
                    pending.append(ready)
        return pending

    def forget(self, kernel_id: str) -> None:
        cached = self._clients.pop(kernel_id, None)
        if cached is not None:
            cached[1].stop_channels()

    def close(self) -> None:
        for kernel_id in list(self._clients):
            self.forget(kernel_id)

    def _kernel_manager(self, kernel_id: str) -> Any:
        # Asked first: for a kernel that was shut down, jupyter_server's get_kernel raises
        # a 404 HTTPError where jupyter_client's raises KeyError.
        manager = self._serverapp.kernel_manager
        if kernel_id not in manager:
            raise NotebookError(f"Kernel {kernel_id} is no longer running.")
        return manager.get_kernel(kernel_id)


def write_kernelspec(nb: YNotebook, name: str, spec: dict[str, str]) -> None:
    """Set the notebook's kernelspec metadata, and the language it implies, in the live
    document, as JupyterLab does when its kernel changes. The rest of language_info is kept
    while the language stays the same (the kernel fills it in when a client connects)."""
    language = spec["language"]
    meta = nb.ydoc.get("meta", type=Map)
    with nb.ydoc.transaction():
        metadata = meta.get("metadata")
        if not isinstance(metadata, Map):
            meta["metadata"] = metadata = Map()
        info = metadata.get("language_info")
        info = dict(info) if isinstance(info, dict) and info.get("name") == language else {}
        metadata["kernelspec"] = {
            "name": name,
            "display_name": spec["display_name"],
            "language": language,
        }
        metadata["language_info"] = {**info, "name": language}
