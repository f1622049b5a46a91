"""Tools on a notebook's kernel."""

from collections.abc import Awaitable, Callable
from typing import Any

from .common import OVERWRITES, STOPS, Path, Register, Toolbox


def register(tool: Register, t: Toolbox) -> None:
    async def on_kernel(path: str, act: Callable[[str], Awaitable[None]], done: str) -> dict:
        """Run `act` on the notebook's kernel, if it has one; the result says which."""
        api_path = t.notebook_path(path)
        kernel_id = await t.kernels.find(api_path)
        if kernel_id is None:
            return {done: False, "message": f"'{api_path}' has no running kernel."}
        await act(kernel_id)
        return {done: True, "kernel_id": kernel_id, "message": f"Kernel {done}."}

    @tool(STOPS)
    async def kernel_interrupt(path: Path) -> dict[str, Any]:
        """Interrupt the notebook's kernel (stops the running cell, keeps the variables).

        Returns {interrupted, kernel_id?, message}."""
        return await on_kernel(path, t.kernels.interrupt, "interrupted")

    @tool(OVERWRITES)
    async def kernel_restart(path: Path) -> dict[str, Any]:
        """Restart the notebook's kernel: every variable and import is lost.

        Returns {restarted, kernel_id?, message}."""
        return await on_kernel(path, t.kernels.restart, "restarted")
