"""Tools on a notebook's kernel and the installed kernelspecs."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastmcp import Context
from fastmcp.tools import ToolResult
from pydantic import Field

from ..errors import NotebookError
from ..kernels import write_kernelspec
from ..results import run_started
from .common import (
    OVERWRITES,
    READS,
    RUN_SCHEMA,
    RUNS_CODE,
    STOPS,
    Path,
    Register,
    Timeout,
    Toolbox,
    Wait,
)
from .execution import result, runnable_kernelspec


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

    @tool(RUNS_CODE, RUN_SCHEMA)
    async def kernel_execute(
        ctx: Context,
        path: Path,
        code: Annotated[str, Field(description="The code to run, in the kernel's language.")],
        timeout: Timeout = None,
        wait: Wait = True,
    ) -> ToolResult:
        """Run scratch code in the notebook's own kernel (started if there is none) without
        touching the notebook: no cell is added or changed, nothing is saved. It sees the
        variables the notebook's cells set, and what it defines stays in the kernel.

        Queued behind any other execution on that kernel, like a cell. Returns
        {execution_id, status: ok|error|timeout|died, execution_count, outputs, error?};
        images come back as image content; long text is cut, and the rest is kept nowhere.
        Use it to inspect data (df.head(), shapes, versions) without leaving cells behind."""
        api_path = t.notebook_path(path)
        seconds = t.execution_timeout(timeout)
        if not code.strip():
            raise NotebookError("code is blank: there is nothing to run.")
        t.check_source(code)
        kernelspec = await runnable_kernelspec(t, api_path, await t.rooms.notebook(api_path))
        run = t.runs.start_code(
            code, room_id=t.rooms.room_id(api_path), path=api_path, kernelspec=kernelspec,
            timeout=seconds,
        )  # fmt: skip
        if not wait:
            return ToolResult(structured_content=run_started(run, {}))
        while not await t.runs.wait(run, 1.0):
            message = f"execution {run.execution_id}: {run.status} for {run.elapsed:.0f} s"
            await ctx.report_progress(run.elapsed, None, message)
        return await result(t, run)

    @tool(READS)
    async def kernelspec_list() -> dict[str, Any]:
        """List the kernels installed on this server, for notebook_set_kernel.

        Returns {default, kernelspecs: [{name, display_name, language}]}; `default` is the
        kernel new notebooks get."""
        specs = await t.kernels.kernelspecs()
        return {
            "default": t.kernels.default_kernelspec,
            "kernelspecs": [{"name": name, **spec} for name, spec in sorted(specs.items())],
        }

    @tool(OVERWRITES)
    async def notebook_set_kernel(
        path: Path,
        kernelspec: Annotated[
            str, Field(description="The kernelspec's name, as kernelspec_list gives it.")
        ],
    ) -> dict[str, Any]:
        """Switch the notebook to another kernel, as JupyterLab's kernel picker does: its
        kernelspec metadata changes in the live notebook, and a running kernel of the
        notebook is replaced by a new one of that kernelspec (the old one is shut down: its
        variables are lost and a running cell stops). Without a running kernel, the next
        execution starts the new one.

        Returns {path, kernelspec: {name, display_name, language}, kernel_id?, message}."""
        api_path = t.notebook_path(path)
        specs = await t.kernels.kernelspecs()
        if kernelspec not in specs:
            raise NotebookError(
                f"No kernelspec '{kernelspec}' is installed on this server (installed: "
                f"{', '.join(sorted(specs)) or 'none'}); nothing was changed."
            )
        spec = specs[kernelspec]
        await t.rooms.notebook(api_path)  # it loads as a notebook before its kernel changes
        before = await t.kernels.find(api_path)
        kernel_id = await t.kernels.switch(api_path, kernelspec)
        async with t.rooms.editing(api_path) as nb:
            write_kernelspec(nb, kernelspec, spec)
        chosen = {"name": kernelspec, **spec}
        name = f"{spec['display_name']} ({kernelspec})"
        if kernel_id is None:
            message = f"The notebook now uses {name}; its next execution starts that kernel."
            return {"path": api_path, "kernelspec": chosen, "message": message}
        if kernel_id == before:
            message = f"The notebook uses {name}; its running kernel already is one, kept."
        else:
            message = (
                f"The notebook now uses {name}: its session has the new kernel {kernel_id}; "
                "the old kernel was shut down and its variables are lost."
            )
        return {"path": api_path, "kernelspec": chosen, "kernel_id": kernel_id, "message": message}
