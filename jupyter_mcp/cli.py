"""`jupyter mcp`: the launcher with the product's defaults."""

import argparse
import os
import secrets
import sys
from pathlib import Path

DEFAULT_PORT = 8888


def lab_command(
    args: argparse.Namespace, extra: list[str]
) -> tuple[list[str], dict[str, str], Path | None]:
    """The `jupyter lab` command line and environment for the product's defaults, and the
    token file the token came from, if any."""
    workspace = Path(args.workspace).expanduser()
    workspace.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    named = env.pop("JUPYTER_TOKEN_FILE", "")
    token_file = Path(named) if named and Path(named).is_file() else None
    if token_file is not None:
        # Jupyter reads JUPYTER_TOKEN_FILE itself, but keeps the trailing newline that
        # secret files usually end with.
        env["JUPYTER_TOKEN"] = token_file.read_text().strip()
    elif not env.get("JUPYTER_TOKEN"):
        # Jupyter would generate one too, but the launcher must know it to print the URL.
        env["JUPYTER_TOKEN"] = secrets.token_urlsafe(32)
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.ip={args.ip}",
        f"--ServerApp.port={args.port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={workspace}",
        "--ServerApp.open_browser=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")
    return argv + extra, env, token_file


def lab(args: argparse.Namespace, extra: list[str]) -> int:
    argv, env, token_file = lab_command(args, extra)
    host = "127.0.0.1" if args.ip in ("0.0.0.0", "", "*", "::") else args.ip
    base = f"http://{host}:{args.port}/"
    if token_file is not None:
        # Never print a provisioned secret: service logs are widely readable.
        print(f"JupyterLab: {base}lab  (token in {token_file})", flush=True)
        print(f"MCP:        {base}mcp  (header 'Authorization: token <token>')", flush=True)
    else:
        token = env["JUPYTER_TOKEN"]
        print(f"JupyterLab: {base}lab?token={token}", flush=True)
        print(f"MCP:        {base}mcp  (header 'Authorization: token {token}')", flush=True)
    os.execvpe(argv[0], argv, env)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jupyter mcp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    lab_parser = sub.add_parser(
        "lab",
        help="Start JupyterLab with collaboration and /mcp on the product's defaults; "
        "further arguments go to `jupyter lab`.",
    )
    lab_parser.add_argument("--ip", default=os.environ.get("JUPYTER_IP", "127.0.0.1"))
    lab_parser.add_argument(
        "--port", type=int, default=int(os.environ.get("JUPYTER_PORT", DEFAULT_PORT))
    )
    lab_parser.add_argument(
        "--workspace", default=os.environ.get("JUPYTER_WORKSPACE", "~/workspace")
    )
    check = sub.add_parser("check", help="Run the build- or deploy-scope checks.")
    scopes = check.add_subparsers(dest="scope", required=True)
    build = scopes.add_parser("build", help="Checks of the installed environment.")
    build.add_argument(
        "--expect-spacy-model",
        action="store_true",
        help="fail, rather than skip, when spaCy cannot load en_core_web_sm",
    )
    deploy = scopes.add_parser("deploy", help="Checks of a running server.")
    deploy.add_argument("--url", required=True, help="the server's base URL")
    deploy.add_argument("--token-file", help="file holding the server's token")
    deploy.add_argument("--workspace", help="the directory the server serves")
    deploy.add_argument(
        "--roundtrip",
        action="store_true",
        help="also create, edit and remove a scratch notebook through MCP",
    )
    deploy.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    for scope in (build, deploy):
        scope.add_argument("--json", action="store_true", help="print the results as JSON")
    args, extra = parser.parse_known_args(argv)
    if args.command == "check":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        from .checks import main_check

        return main_check(args)
    return lab(args, extra)


if __name__ == "__main__":
    sys.exit(main())
