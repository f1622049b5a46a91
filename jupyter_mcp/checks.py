"""`jupyter mcp check`: the build- and deploy-scope checks every deployment runs.

One implementation, called by the Python tests, the NixOS VM tests and the image test.
"""

import asyncio
import importlib
import json
import shutil
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from .authorization import TOOL_NAMES
from .client import LeanClient


@dataclass
class Check:
    name: str
    status: str  # PASS, FAIL or SKIP
    detail: str = ""


class Failed(Exception):
    """A check's failure, with the reason shown to the operator."""


def passed(detail: str = "") -> Check:
    return Check("", "PASS", detail)


def skipped(detail: str) -> Check:
    return Check("", "SKIP", detail)


def _run(name: str, check: Callable[[], Check]) -> Check:
    try:
        result = check()
    except Failed as error:
        return Check(name, "FAIL", str(error))
    result.name = name
    return result


# Build scope


def check_jupyter_lab() -> Check:
    found = shutil.which("jupyter-lab") or shutil.which(
        "jupyter-lab", path=str(Path(sys.executable).parent)
    )
    if not found:
        raise Failed("no jupyter-lab program on PATH or beside this Python")
    return passed(found)


def check_extension_enabled() -> Check:
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    module = importlib.import_module("jupyter_mcp")
    points = module._jupyter_server_extension_points()
    manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
    enabled = manager.get_jpserver_extensions()
    missing = [
        name for name in ("jupyter_mcp", "jupyter_server_ydoc") if not enabled.get(name, False)
    ]
    if missing:
        raise Failed(f"server extensions not enabled: {', '.join(missing)}")
    return passed(f"jupyter_mcp {module.__version__} ({len(points)} extension point)")


def check_spacy(expect_model: bool) -> Callable[[], Check]:
    def check() -> Check:
        try:
            spacy = importlib.import_module("spacy")
            nlp = spacy.load("en_core_web_sm")
        except (ImportError, OSError) as error:
            if expect_model:
                raise Failed(f"spaCy cannot load en_core_web_sm: {error}") from None
            return skipped(f"this environment does not ship en_core_web_sm ({error})")
        tokens = [token.text for token in nlp("Jupyter runs notebooks.")]
        return passed(f"spaCy {spacy.__version__}, en_core_web_sm: {tokens}")

    return check


def build_checks(expect_spacy_model: bool = False) -> list[Check]:
    return [
        _run("jupyter-lab program", check_jupyter_lab),
        _run("jupyter_mcp server extension", check_extension_enabled),
        _run("spaCy en_core_web_sm", check_spacy(expect_spacy_model)),
    ]


# Deploy scope


@dataclass
class Target:
    url: str  # the server's base URL, ending in '/'
    token: str | None
    workspace: Path | None
    timeout: float

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}


def check_workspace(target: Target) -> Check:
    if target.workspace is None:
        return skipped("no --workspace given")
    if not target.workspace.is_dir():
        raise Failed(f"{target.workspace} is not a directory")
    return passed(str(target.workspace))


def check_port(target: Target) -> Check:
    parts = urlsplit(target.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=target.timeout):
            return passed(f"{parts.hostname}:{port}")
    except OSError as error:
        raise Failed(f"{parts.hostname}:{port}: {error}") from None


def check_api(target: Target) -> Check:
    try:
        response = httpx.get(target.url + "api", timeout=target.timeout)
        version = response.json().get("version") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as error:
        raise Failed(f"GET /api: {error}") from None
    if not version:
        raise Failed(f"GET /api answered {response.status_code} without a version")
    return passed(f"Jupyter Server {version}")


def check_mcp_refuses_anonymous(target: Target) -> Check:
    if not target.token:
        return skipped("no token given")
    codes = []
    try:
        for method in ("GET", "POST"):
            response = httpx.request(method, target.url + "mcp", json={}, timeout=target.timeout)
            codes.append(response.status_code)
    except httpx.HTTPError as error:
        raise Failed(f"/mcp: {error}") from None
    if any(code not in (401, 403) for code in codes):
        raise Failed(f"/mcp without credentials answered {codes}, expected 401/403")
    return passed(f"GET and POST without credentials: {codes}")


async def _mcp_checks(target: Target, roundtrip: bool) -> list[Check]:
    results: list[Check] = []

    async def step(name: str, check: Callable[[], Awaitable[Check]]) -> bool:
        try:
            result = await check()
        except (Failed, httpx.HTTPError, OSError, KeyError, ValueError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            results.append(Check(name, "FAIL", reason))
            return False
        result.name = name
        results.append(result)
        return True

    try:
        async with LeanClient(target.url + "mcp", target.headers) as mcp:

            async def ping() -> Check:
                await mcp.ping()
                return passed()

            async def tools() -> Check:
                names = {tool["name"] for tool in (await mcp.request("tools/list"))["tools"]}
                missing = sorted(TOOL_NAMES - names)
                if missing:
                    raise Failed(f"missing tools: {', '.join(missing)}")
                return passed(f"{len(names)} tools")

            async def listing() -> Check:
                rows = await mcp.call("notebook_list")
                if not isinstance(rows, list) or not all(
                    isinstance(row, dict) and set(row) == {"path", "name"} for row in rows
                ):
                    raise Failed(f"notebook_list returned {str(rows)[:200]}")
                return passed(f"{len(rows)} notebooks")

            if await step("MCP ping", ping):
                await step("MCP tools/list", tools)
                await step("MCP notebook_list", listing)
                if roundtrip:
                    await step("MCP round trip", lambda: _roundtrip(target, mcp))
    except (httpx.HTTPError, OSError, KeyError) as error:
        reason = str(error).splitlines()[0]
        results.append(Check("MCP ping", "FAIL", f"cannot open an MCP session: {reason}"))
    return results


async def _roundtrip(target: Target, mcp: LeanClient) -> Check:
    """create → insert → get → delete on a scratch notebook, removed afterwards."""
    path = f"jupyter-mcp-check-{uuid.uuid4().hex[:12]}.ipynb"
    await mcp.call("notebook_create", path=path)
    try:
        inserted = await mcp.call("cell_insert", path=path, source="print('check')")
        cells = (await mcp.call("notebook_get", path=path))["cells"]
        if not any(cell["id"] == inserted["cell_id"] for cell in cells):
            raise Failed("the inserted cell is not in the notebook")
        await mcp.call("cell_delete", path=path, cell_id=inserted["cell_id"])
    finally:
        async with httpx.AsyncClient(headers=target.headers, timeout=target.timeout) as http:
            await http.delete(f"{target.url}api/contents/{path}")
    return passed(f"created, edited and removed {path}")


def deploy_checks(
    url: str,
    token: str | None = None,
    workspace: Path | None = None,
    roundtrip: bool = False,
    timeout: float = 10.0,
) -> list[Check]:
    target = Target(url if url.endswith("/") else url + "/", token, workspace, timeout)
    results = [
        _run("workspace directory", lambda: check_workspace(target)),
        _run("port accepts connections", lambda: check_port(target)),
    ]
    if results[-1].status == "FAIL":
        return results
    results += [
        _run("GET /api", lambda: check_api(target)),
        _run("/mcp refuses anonymous requests", lambda: check_mcp_refuses_anonymous(target)),
    ]
    return results + asyncio.run(_mcp_checks(target, roundtrip))


def report(results: list[Check], as_json: bool) -> int:
    if as_json:
        print(json.dumps([asdict(result) for result in results], indent=2))
    else:
        for result in results:
            print(
                f"{result.status:4}  {result.name}"
                + (f": {result.detail}" if result.detail else "")
            )
    return 1 if any(result.status == "FAIL" for result in results) else 0


def read_token(token_file: str | None) -> str | None:
    if token_file is None:
        return None
    try:
        return Path(token_file).read_text().strip() or None
    except OSError as error:
        raise SystemExit(f"cannot read the token file: {error}") from None


def main_check(args: Any) -> int:
    if args.scope == "build":
        return report(build_checks(args.expect_spacy_model), args.json)
    workspace = Path(args.workspace) if args.workspace else None
    results = deploy_checks(
        args.url, read_token(args.token_file), workspace, args.roundtrip, args.timeout
    )
    return report(results, args.json)
