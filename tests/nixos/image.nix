# The OCI image in a VM with Podman: loaded from the flake's stream script, run with a token
# secret and a workspace volume, it passes the deploy-scope checks from the host with a
# notebook round trip, refuses anonymous /mcp requests, and runs as uid 1000 under tini.
{ pkgs, self }:

let
  image = self.packages.${pkgs.stdenv.hostPlatform.system}.image;
  imageRef = "${image.imageName}:${image.imageTag}";

  # On the host: the token, mounted where the image's JUPYTER_TOKEN_FILE points, and the
  # directory mounted as the workspace volume.
  tokenFile = "/run/jupyter-mcp-secrets/jupyter-token";
  workspace = "/var/lib/jupyter-mcp-workspace";
in
pkgs.testers.runNixOSTest {
  name = "jupyter-mcp-image";

  # The node applies the overlay itself, for the checks command on the host.
  node.pkgsReadOnly = false;

  nodes.machine =
    { pkgs, ... }:
    {
      nixpkgs.overlays = [ self.overlays.default ];

      virtualisation = {
        podman.enable = true;
        # The loaded image holds the whole data-science environment.
        diskSize = 16384;
        memorySize = 4096;
        cores = 2;
      };

      environment.systemPackages = [
        pkgs.jupyter-mcp-env
        pkgs.curl
      ];
    };

  testScript = builtins.readFile ./processes.py + ''
    import re

    token_file = "${tokenFile}"
    workspace = "${workspace}"
    url = "http://127.0.0.1:8888/"
    check = f"jupyter-mcp check deploy --url {url} --token-file {token_file} --timeout 60"

    machine.wait_for_unit("multi-user.target")

    with subtest("the image loads into Podman"):
        # Gigabytes through a pipe: bounded, but far above what it takes on a slow runner.
        machine.succeed("${image} | podman load", timeout=1800)
        machine.succeed("podman image exists ${imageRef}")

    with subtest("the container starts with a token secret and a workspace volume"):
        notebook = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
        machine.succeed(
            "install -d -m 0700 ${dirOf tokenFile}",
            f"(umask 0377 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \\n' > {token_file})",
            f"chown 1000:1000 {token_file}",
            f"install -d -m 0750 -o 1000 -g 1000 {workspace}",
            f"echo '{notebook}' > {workspace}/existing.ipynb",
            f"chown 1000:1000 {workspace}/existing.ipynb",
        )
        machine.succeed(
            "podman run -d --name jupyter-mcp --pull=never -p 8888:8888"
            + f" -v {token_file}:/run/secrets/jupyter-token:ro"
            + f" -v {workspace}:/home/jupyter/workspace"
            + " ${imageRef}"
        )
        machine.wait_for_open_port(8888, addr="127.0.0.1")
        machine.wait_until_succeeds(f"curl -sf {url}api")

    with subtest("the deploy checks pass from the host, with a notebook round trip"):
        report = machine.succeed(f"{check} --workspace {workspace} --roundtrip")
        print(report)
        # The checks command itself sends GET and POST /mcp without the token.
        assert "PASS  /mcp refuses anonymous requests" in report, report

    with subtest("the server serves the mounted workspace"):
        contents = machine.succeed(
            f"curl -sf -H \"Authorization: token $(cat {token_file})\" {url}api/contents/"
        )
        assert "existing.ipynb" in contents, contents

    with subtest("the container runs as uid 1000 under tini"):
        init = machine.succeed("podman inspect --format '{{.State.Pid}}' jupyter-mcp").strip()
        assert machine.succeed(f"cat /proc/{init}/comm").strip() == "tini"
        processes = process_status(machine, "podman top jupyter-mcp hpid | tail -n +2")
        assert init in processes and len(processes) >= 2, f"tini and the server? {processes}"
        for proc in processes.values():
            assert re.search(r"^Uid:\s+1000\s+1000\s", proc, re.M), proc
  '';
}
