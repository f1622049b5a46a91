"""The NixOS module (modules/jupyter.nix), evaluated with nixpkgs' lib alone: options in,
systemd unit, firewall and assertions out. The VM tests in tests/nixos/ run the unit for real.

Needs `nix-instantiate` (Debian's nix-bin) and a nixpkgs `lib` directory in $NIXPKGS_LIB: CI
uses the copy at ../shared/nixpkgs-lib/lib; elsewhere a checkout of nix-community/nixpkgs.lib
does (NIXPKGS_LIB=/path/to/nixpkgs.lib/lib)."""

import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import client_for, wire
from .nix import evaluate_expression
from .servers import free_port, running_server

REPO = Path(__file__).parent.parent
HARNESS = REPO / "tests" / "nixos" / "eval-module.nix"
NIXPKGS_LIB = os.environ.get("NIXPKGS_LIB", "")
TOKEN = "/run/keys/jupyter-token"

pytestmark = [
    # Required wherever NIXPKGS_LIB is set (.ci/run sets it); elsewhere they may skip.
    *([] if NIXPKGS_LIB else [pytest.mark.may_skip(reason="NIXPKGS_LIB is not set")]),
    pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="nix-instantiate missing"),
    pytest.mark.skipif(
        not NIXPKGS_LIB or not (Path(NIXPKGS_LIB) / "default.nix").is_file(),
        reason="NIXPKGS_LIB does not name a nixpkgs lib directory",
    ),
]


def nix_eval(config: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "nix-instantiate",
            "--eval",
            "--strict",
            "--json",
            str(HARNESS),
            "--arg",
            "lib",
            f"import {json.dumps(str(Path(NIXPKGS_LIB).resolve()))}",
            "--arg",
            "config",
            config,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def evaluate(config: str) -> dict[str, Any]:
    """Evaluate the module with these `services.jupyter-mcp` definitions (a Nix attrset)."""
    result = nix_eval(config)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def exec_args(line: str) -> list[str]:
    """Split an Exec line quoted by nixpkgs' utils.escapeSystemdExecArgs."""
    quoted = re.findall(r'"(?:[^"\\]|\\.)*"', line)
    assert " ".join(quoted) == line, f"not an escaped Exec line: {line}"
    return [json.loads(q).replace("%%", "%").replace("$$", "$") for q in quoted]


def option_value(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def config_path(args: list[str]) -> str:
    (path,) = [a.removeprefix("--config=") for a in args if a.startswith("--config=")]
    return path


def test_nix_package_declares_every_pyproject_dependency() -> None:
    # pkgs/jupyter-mcp called with every argument standing for its own name: its
    # `dependencies` are then the nixpkgs attribute names it asks for.
    expression = f"""
      let
        lib = import {json.dumps(str(Path(NIXPKGS_LIB).resolve()))};
        package = import {json.dumps(str(REPO / "pkgs" / "jupyter-mcp"))};
        names = builtins.mapAttrs (name: _: name) (builtins.functionArgs package);
        stubs = {{ inherit lib; buildPythonPackage = attrs: attrs; callPackage = _: _: null; }};
      in (package (names // stubs)).dependencies
    """
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {canonicalize_name(Requirement(line).name) for line in project["dependencies"]}
    assert set(evaluate_expression(expression)) == wanted


@pytest.fixture(scope="module")
def default() -> dict[str, Any]:
    return evaluate(f'{{ enable = true; tokenFile = "{TOKEN}"; }}')


def test_disabled_module_defines_no_service() -> None:
    out = evaluate("{ }")
    assert out["unit"] is None
    assert out["firewallTCPPorts"] == []
    assert out["users"] == {}


def test_exec_start_runs_the_launcher_on_loopback_with_the_rendered_settings(
    default: dict[str, Any],
) -> None:
    args = exec_args(default["unit"]["serviceConfig"]["ExecStart"])
    assert args[0] == default["package"] + "/bin/jupyter-mcp"
    assert args[1] == "lab"
    assert option_value(args, "--ip") == "127.0.0.1"
    assert option_value(args, "--port") == "8888"
    assert option_value(args, "--workspace") == "/var/lib/jupyter-mcp/workspace"
    # The stub `formats.json.generate` names the file after a hash of what it renders.
    assert default["settingsHash"] in config_path(args)


def test_address_port_and_workspace_reach_the_command_line() -> None:
    out = evaluate(
        f"""{{
          enable = true;
          tokenFile = "{TOKEN}";
          listenAddress = "0.0.0.0";
          port = 9999;
          workspace = "/srv/notebooks";
        }}"""
    )
    args = exec_args(out["unit"]["serviceConfig"]["ExecStart"])
    assert option_value(args, "--ip") == "0.0.0.0"
    assert option_value(args, "--port") == "9999"
    assert option_value(args, "--workspace") == "/srv/notebooks"


def test_token_file_is_a_credential_never_a_store_path(default: dict[str, Any]) -> None:
    unit = default["unit"]
    assert unit["serviceConfig"]["LoadCredential"] == [f"jupyter-token:{TOKEN}"]
    assert unit["environment"]["JUPYTER_TOKEN_FILE"] == "%d/jupyter-token"
    assert "ExecStartPre" not in unit["serviceConfig"]
    assert TOKEN not in json.dumps(default["settings"])
    assert TOKEN not in unit["serviceConfig"]["ExecStart"]


@pytest.mark.parametrize(
    "token_file",
    ["./eval-module.nix", '"/nix/store/00000000000000000000000000000000-token"', '"token"'],
    ids=["path-literal", "store-path", "relative"],
)
def test_token_file_in_the_store_or_relative_is_refused(token_file: str) -> None:
    result = nix_eval(f"{{ enable = true; tokenFile = {token_file}; }}")
    assert result.returncode != 0
    assert "services.jupyter-mcp.tokenFile' is not of type" in result.stderr
    assert "not in the Nix store" in result.stderr


def test_without_token_file_a_token_is_generated_in_the_state_directory() -> None:
    out = evaluate("{ enable = true; }")
    unit = out["unit"]
    assert out["failedAssertions"] == []
    assert "LoadCredential" not in unit["serviceConfig"]
    assert unit["environment"]["JUPYTER_TOKEN_FILE"] == "/var/lib/jupyter-mcp/token"
    assert unit["serviceConfig"]["ExecStartPre"].endswith("-jupyter-mcp-generate-token")


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.10"])
def test_listening_beyond_loopback_requires_a_token_file(address: str) -> None:
    out = evaluate(f'{{ enable = true; listenAddress = "{address}"; }}')
    (message,) = out["failedAssertions"]
    assert f'listenAddress = "{address}"' in message
    assert "tokenFile" in message
    with_token = evaluate(
        f'{{ enable = true; listenAddress = "{address}"; tokenFile = "{TOKEN}"; }}'
    )
    assert with_token["failedAssertions"] == []


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_token_file(address: str) -> None:
    out = evaluate(f'{{ enable = true; listenAddress = "{address}"; }}')
    assert out["failedAssertions"] == []


def test_service_is_hardened_and_runs_as_its_own_user(default: dict[str, Any]) -> None:
    service = default["unit"]["serviceConfig"]
    assert service["User"] == "jupyter-mcp"
    assert service["Group"] == "jupyter-mcp"
    assert default["users"]["jupyter-mcp"]["isSystemUser"] is True
    assert "jupyter-mcp" in default["groups"]
    assert service["NoNewPrivileges"] is True
    assert service["CapabilityBoundingSet"] == ""
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] is True
    for flag in (
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "RestrictSUIDSGID",
        "RestrictNamespaces",
        "LockPersonality",
    ):
        assert service[flag] is True, flag
    assert service["SystemCallFilter"][0] == "@system-service"
    assert "~@privileged" in service["SystemCallFilter"]
    # Kernels: ZeroMQ over loopback TCP and Unix sockets, JIT compilers, /proc for psutil.
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(service["RestrictAddressFamilies"])
    assert "MemoryDenyWriteExecute" not in service
    assert "ProcSubset" not in service
    assert service["SystemCallErrorNumber"] == "EPERM"


def test_state_lives_in_the_state_directory(default: dict[str, Any]) -> None:
    unit = default["unit"]
    service = unit["serviceConfig"]
    assert service["StateDirectory"] == "jupyter-mcp"
    assert service["WorkingDirectory"] == "/var/lib/jupyter-mcp"
    assert unit["environment"]["HOME"] == "/var/lib/jupyter-mcp"
    assert "ReadWritePaths" not in service
    assert default["tmpfiles"] == {}
    settings = default["settings"]
    assert settings["SQLiteYStore"]["db_path"] == "/var/lib/jupyter-mcp/ystore.db"
    assert settings["BaseFileIdManager"]["db_path"] == "/var/lib/jupyter-mcp/file_id_manager.db"
    assert settings["YDocExtension"]["session_store_path"].startswith("/var/lib/jupyter-mcp/")


def test_stop_does_not_wait_forever_and_failures_restart(default: dict[str, Any]) -> None:
    service = default["unit"]["serviceConfig"]
    assert service["Restart"] == "on-failure"
    assert 0 < service["TimeoutStopSec"] <= 60
    assert default["unit"]["wantedBy"] == ["multi-user.target"]


def test_workspace_outside_the_state_directory_is_created_and_writable() -> None:
    out = evaluate(f'{{ enable = true; tokenFile = "{TOKEN}"; workspace = "/srv/notebooks"; }}')
    service = out["unit"]["serviceConfig"]
    assert service["ReadWritePaths"] == ["/srv/notebooks"]
    assert service["ProtectHome"] is True
    rule = out["tmpfiles"]["10-jupyter-mcp"]["/srv/notebooks"]["d"]
    assert rule == {"user": "jupyter-mcp", "group": "jupyter-mcp", "mode": "0750"}


def test_workspace_under_home_keeps_home_read_only_but_the_workspace_writable() -> None:
    out = evaluate(
        f"""{{
          enable = true;
          tokenFile = "{TOKEN}";
          user = "alice";
          group = "users";
          workspace = "/home/alice/notebooks";
        }}"""
    )
    service = out["unit"]["serviceConfig"]
    assert service["ProtectHome"] == "read-only"
    assert service["ReadWritePaths"] == ["/home/alice/notebooks"]
    assert service["User"] == "alice"
    # Users and groups the module did not name are not created.
    assert out["users"] == {}
    assert out["groups"] == {}


def test_firewall_opens_the_port_only_when_asked(default: dict[str, Any]) -> None:
    assert default["firewallTCPPorts"] == []
    out = evaluate(
        f"""{{
          enable = true;
          tokenFile = "{TOKEN}";
          listenAddress = "0.0.0.0";
          port = 9999;
          openFirewall = true;
        }}"""
    )
    assert out["firewallTCPPorts"] == [9999]


def test_room_idle_timeout_and_server_name_are_rendered_into_settings(
    default: dict[str, Any],
) -> None:
    assert default["settings"]["MCPExtension"] == {"room_idle_timeout": 600}
    out = evaluate(
        f"""{{
          enable = true;
          tokenFile = "{TOKEN}";
          mcp.roomIdleTimeout = 120;
          mcp.serverName = "lab-agent";
        }}"""
    )
    assert out["settings"]["MCPExtension"] == {"room_idle_timeout": 120, "server_name": "lab-agent"}
    args = exec_args(out["unit"]["serviceConfig"]["ExecStart"])
    assert out["settingsHash"] in config_path(args)
    assert default["settingsHash"] not in config_path(args)


def test_freeform_settings_merge_with_the_defaults_and_may_override_them() -> None:
    out = evaluate(
        f"""{{
          enable = true;
          tokenFile = "{TOKEN}";
          settings = {{
            MCPExtension.max_output_chars = 50000;
            ServerApp.allow_remote_access = true;
            SQLiteYStore.db_path = "/srv/ystore.db";
          }};
        }}"""
    )
    settings = out["settings"]
    assert settings["MCPExtension"] == {"room_idle_timeout": 600, "max_output_chars": 50000}
    assert settings["ServerApp"] == {"allow_remote_access": True}
    assert settings["SQLiteYStore"]["db_path"] == "/srv/ystore.db"
    assert settings["BaseFileIdManager"]["db_path"] == "/var/lib/jupyter-mcp/file_id_manager.db"


def test_room_idle_timeout_is_set_through_its_option_not_twice() -> None:
    result = nix_eval(
        f'{{ enable = true; tokenFile = "{TOKEN}"; settings.MCPExtension.room_idle_timeout = 5; }}'
    )
    assert result.returncode != 0
    assert "settings.MCPExtension.room_idle_timeout' has conflicting definition values" in (
        result.stderr
    )


def test_non_json_settings_are_refused() -> None:
    result = nix_eval(f'{{ enable = true; tokenFile = "{TOKEN}"; settings.X.y = _: 1; }}')
    assert result.returncode != 0
    assert "services.jupyter-mcp.settings.X.y" in result.stderr


def test_extra_python_packages_extend_the_environment_the_service_runs() -> None:
    out = evaluate(
        f"""{{
          enable = true;
          tokenFile = "{TOKEN}";
          extraPythonPackages = ps: [ ps.requests ps.openpyxl ];
        }}"""
    )
    assert out["package"].endswith("-jupyter-mcp-env-requests-openpyxl")
    args = exec_args(out["unit"]["serviceConfig"]["ExecStart"])
    assert args[0] == out["package"] + "/bin/jupyter-mcp"
    assert out["package"] in out["unit"]["path"]


def test_exec_arguments_are_escaped_for_systemd() -> None:
    out = evaluate('{ enable = true; workspace = "/srv/a b/100%/$HOME"; }')
    line = out["unit"]["serviceConfig"]["ExecStart"]
    assert '"/srv/a b/100%%/$$HOME"' in line
    assert option_value(exec_args(line), "--workspace") == "/srv/a b/100%/$HOME"


async def test_the_rendered_unit_serves_and_passes_the_deploy_checks(tmp_path: Path) -> None:
    """The unit's command line, environment and config file, with its directories moved under
    tmp_path and this environment's launcher for the store path, run the real server: what the
    VM test checks under systemd, minus the sandbox."""
    port = free_port()
    out = evaluate(
        f'{{ enable = true; tokenFile = "{TOKEN}"; port = {port}; mcp.serverName = "unit-agent"; }}'
    )
    unit = out["unit"]
    state, cache, credentials = tmp_path / "state", tmp_path / "cache", tmp_path / "credentials"
    for directory in (state, cache, credentials):
        directory.mkdir()

    def moved(value: str) -> str:
        return (
            value.replace("/var/lib/jupyter-mcp", str(state))
            .replace("/var/cache/jupyter-mcp", str(cache))
            .replace("%d", str(credentials))
        )

    token = secrets.token_hex(16)
    (credentials / "jupyter-token").write_text(token + "\n")
    config_file = tmp_path / "jupyter-mcp-config.json"
    config_file.write_text(moved(json.dumps(out["settings"])))
    launcher = str(Path(sys.executable).parent / "jupyter-mcp")
    args = exec_args(unit["serviceConfig"]["ExecStart"])
    argv = [launcher] + [
        f"--config={config_file}" if arg.startswith("--config=") else moved(arg) for arg in args[1:]
    ]
    workspace = Path(moved(option_value(args, "--workspace")))
    env = {name: moved(value) for name, value in unit["environment"].items()}

    with running_server(
        state, command=argv, env=env, port=port, root=workspace, token=token
    ) as server:
        check = await asyncio.create_subprocess_exec(
            *(launcher, "check", "deploy", "--url", server.url, "--roundtrip"),
            *("--token-file", str(credentials / "jupyter-token"), "--workspace", str(workspace)),
            *("--timeout", "60"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        report = (await asyncio.wait_for(check.communicate(), 240))[0].decode()
        assert check.returncode == 0, report
        async with client_for(server) as mcp:
            assert wire(mcp.initialize_result)["serverInfo"]["name"] == "unit-agent"
    assert token not in server.log.read_text()
    assert (state / "file_id_manager.db").is_file()
