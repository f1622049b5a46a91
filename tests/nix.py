"""Nix evaluation for the tests: Debian's nix-instantiate 2.8 evaluates expressions that need
no nixpkgs beyond its `lib`."""

import json
import subprocess
from typing import Any


def evaluate_expression(expression: str) -> Any:
    """The value of a Nix expression, evaluated strictly, as JSON data."""
    result = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--expr", expression],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
