"""The NixOS VM test scripts (tests/nixos/*.nix) as nixpkgs' test driver takes them: they pass
the driver's lint, and their shell commands hold under the driver's `set -euo pipefail`.
No machine here can boot the VMs; this is what can be proven without one."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .nix import evaluate_expression

NIXOS_TESTS = Path(__file__).parent / "nixos"

# Each VM test file with stand-ins for what it reads of nixpkgs and of the flake: enough for
# its `testScript` to evaluate.
STUBS = {
    "module.nix": "{ pkgs = { testers.runNixOSTest = test: test; }; self = { }; }",
    "image.nix": """{
      pkgs = { testers.runNixOSTest = test: test; stdenv.hostPlatform.system = "x86_64-linux"; };
      self.packages.x86_64-linux.image = {
        imageName = "jupyter-mcp";
        imageTag = "latest";
        outPath = "/nix/store/00000000000000000000000000000000-stream-jupyter-mcp";
      };
    }""",
}

pytestmark = pytest.mark.skipif(
    shutil.which("nix-instantiate") is None, reason="nix-instantiate missing (Debian's nix-bin)"
)


def vm_test_script(name: str) -> str:
    return evaluate_expression(
        f"(import {json.dumps(str(NIXOS_TESTS / name))} {STUBS[name]}).testScript"
    )


@pytest.mark.parametrize("name", sorted(STUBS))
def test_vm_test_script_passes_the_drivers_lint(name: str, tmp_path: Path) -> None:
    script = tmp_path / "test-script"
    script.write_text(vm_test_script(name))
    # As nixos/lib/testing/driver.nix runs it: pyflakes, with the driver's globals as builtins.
    env = os.environ | {"PYFLAKES_BUILTINS": "machine,subtest,start_all"}
    result = subprocess.run(
        [sys.executable, "-m", "pyflakes", str(script)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


class DriverShell:
    """`succeed` and `execute` as nixpkgs' test driver runs commands in a VM: under bash with
    `set -euo pipefail`, `succeed` raising on a non-zero exit."""

    def execute(self, command: str) -> tuple[int, str]:
        process = subprocess.run(
            ["bash", "-c", f"set -euo pipefail; {command}"], capture_output=True, text=True
        )
        return process.returncode, process.stdout

    def succeed(self, command: str) -> str:
        status, output = self.execute(command)
        if status != 0:
            raise AssertionError(f"command `{command}` failed (exit code {status})")
        return output


def shared_helpers() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec((NIXOS_TESTS / "processes.py").read_text(), namespace)
    return namespace


def test_process_status_skips_a_process_that_exited_after_being_listed() -> None:
    process_status = shared_helpers()["process_status"]
    gone = subprocess.Popen(["true"])
    gone.wait()
    status = process_status(DriverShell(), f"echo {os.getpid()} {gone.pid}")
    assert set(status) == {str(os.getpid())}
    assert f"Pid:\t{os.getpid()}\n" in status[str(os.getpid())]
    assert status[str(os.getpid())].startswith("Name:")


def test_token_grep_tells_absent_from_missing_file(tmp_path: Path) -> None:
    # module.nix requires exit status 1: the token in neither file. 0 (found) and 2 (a file
    # missing) must both fail the test.
    unit, config = tmp_path / "unit", tmp_path / "config.json"
    unit.write_text("LoadCredential=jupyter-token:/run/keys/jupyter-mcp-token\n")
    config.write_text("{}")
    grep = "grep -qF -- 0123abcd {} {}"
    assert DriverShell().execute(grep.format(unit, config))[0] == 1
    config.write_text('{"token": "0123abcd"}')
    assert DriverShell().execute(grep.format(unit, config))[0] == 0
    assert DriverShell().execute(grep.format(unit, tmp_path / "missing"))[0] == 2
    assert "grep -qF -- {token} {unit_file} {config_file}" in vm_test_script("module.nix")
