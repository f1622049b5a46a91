"""A real `jupyter lab` process on loopback, with every file it writes isolated."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    root: Path
    port: int
    token: str | None
    base_url: str
    process: subprocess.Popen
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    @property
    def mcp_url(self) -> str:
        return self.url + "mcp"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def isolated_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MCP_"))}
    for name in ("config", "data", "runtime", "ipython"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
        HOME=str(home),
    )
    return env


def server_args(home: Path, root: Path, port: int) -> list[str]:
    return [
        "--no-browser",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        f"--SQLiteYStore.db_path={home / 'ystore.db'}",
        f"--BaseFileIdManager.db_path={home / 'fileid.db'}",
        f"--YDocExtension.session_store_path={home / 'sessions.json'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]


def wait_until_up(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited:\n{server.log.read_text()[-4000:]}")
        try:
            response = httpx.get(server.url + "api", timeout=2)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"server did not start:\n{server.log.read_text()[-4000:]}")


@contextmanager
def running_server(
    home: Path,
    *extra: str,
    token: str | None = TOKEN,
    base_url: str = "/",
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    port: int | None = None,
    root: Path | None = None,
) -> Iterator[Server]:
    """Start `jupyter lab` (or `command`, serving `root` on `port`) with the test's isolation
    and yield it running."""
    root = root or home / "root"
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    full_env = isolated_env(home) | (env or {})
    argv = command or [sys.executable, "-m", "jupyterlab", *server_args(home, root, port)]
    if command is None:
        if "JUPYTER_TOKEN_FILE" not in full_env:
            argv.append(f"--IdentityProvider.token={token or ''}")
        if base_url != "/":
            argv.append(f"--ServerApp.base_url={base_url}")
        if os.geteuid() == 0:
            argv.append("--allow-root")
        argv.extend(extra)
    log = home / "server.log"
    with log.open("wb") as out:
        # cwd: jupyter_server_ydoc's get_document() builds a room's store without the server
        # config, so SQLiteYStore.db_path is ignored and the store lands in the cwd.
        process = subprocess.Popen(
            argv, env=full_env, cwd=home, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(root, port, token, base_url, process, log, full_env)
    try:
        wait_until_up(server)
        yield server
    finally:
        server.stop()
