"""`jupyter mcp check`: passing against a real server, failing for each broken deployment."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from .servers import Server, running_server


def check(*args: str) -> tuple[int, str]:
    process = subprocess.run(
        [sys.executable, "-m", "jupyter_mcp.cli", "check", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return process.returncode, process.stdout + process.stderr


def lines(output: str) -> dict[str, str]:
    """check name -> status."""
    result = {}
    for line in output.splitlines():
        status, _, rest = line.partition("  ")
        if status in ("PASS", "FAIL", "SKIP"):
            result[rest.split(":")[0]] = status
    return result


def token_file(tmp_path: Path, token: str) -> str:
    path = tmp_path / "token"
    path.write_text(token + "\n")
    return str(path)


def test_build_checks_pass_here() -> None:
    code, output = check("build")
    assert code == 0, output
    statuses = lines(output)
    assert statuses["jupyter-lab program"] == "PASS"
    assert statuses["jupyter_mcp server extension"] == "PASS"
    assert statuses["spaCy en_core_web_sm"] in ("PASS", "SKIP")


def test_build_check_can_require_the_spacy_model() -> None:
    has_model = (
        importlib.util.find_spec("spacy") is not None
        and importlib.util.find_spec("en_core_web_sm") is not None
    )
    code, output = check("build", "--expect-spacy-model")
    assert lines(output)["spaCy en_core_web_sm"] == ("PASS" if has_model else "FAIL")
    assert code == (0 if has_model else 1)


def test_deploy_checks_pass_with_a_round_trip(server: Server, tmp_path: Path) -> None:
    def visible() -> list[str]:
        return sorted(p.name for p in server.root.iterdir() if not p.name.startswith("."))

    before = visible()
    code, output = check(
        "deploy", "--url", server.url, "--token-file", token_file(tmp_path, server.token),
        "--workspace", str(server.root), "--roundtrip",
    )  # fmt: skip
    assert code == 0, output
    statuses = lines(output)
    assert list(statuses.values()) == ["PASS"] * 8, output
    assert "MCP round trip" in statuses
    assert visible() == before  # the scratch notebook is gone


def test_deploy_json_output(server: Server, tmp_path: Path) -> None:
    code, output = check(
        "deploy", "--url", server.url, "--token-file", token_file(tmp_path, server.token), "--json"
    )
    assert code == 0, output
    results = json.loads(output)
    assert {r["name"]: r["status"] for r in results}["MCP tools/list"] == "PASS"
    assert {r["status"] for r in results} <= {"PASS", "SKIP"}


def test_deploy_fails_with_a_wrong_token(server: Server, tmp_path: Path) -> None:
    code, output = check("deploy", "--url", server.url, "--token-file", token_file(tmp_path, "x"))
    assert code == 1
    assert lines(output)["MCP ping"] == "FAIL"


def test_deploy_fails_when_the_server_is_down(tmp_path: Path) -> None:
    from .servers import free_port

    code, output = check("deploy", "--url", f"http://127.0.0.1:{free_port()}/")
    assert code == 1
    assert lines(output)["port accepts connections"] == "FAIL"


def test_deploy_fails_when_a_tool_is_missing(tmp_path: Path) -> None:
    with running_server(tmp_path, "--MCPExtension.disabled_tools=cell_execute") as server:
        code, output = check(
            "deploy", "--url", server.url, "--token-file", token_file(tmp_path, server.token)
        )
    assert code == 1
    assert lines(output)["MCP tools/list"] == "FAIL"
    assert "missing tools: cell_execute" in output


def test_deploy_fails_when_mcp_is_open_to_anonymous_callers(tmp_path: Path) -> None:
    with running_server(tmp_path, token=None) as server:
        code, output = check(
            "deploy", "--url", server.url, "--token-file", token_file(tmp_path, "expected")
        )
    assert code == 1
    assert lines(output)["/mcp refuses anonymous requests"] == "FAIL"
