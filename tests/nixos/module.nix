# The NixOS module in a VM: the service starts hardened and unprivileged, passes the
# deploy-scope checks with a notebook round trip, refuses anonymous /mcp requests, and gets its
# token only as a systemd credential.
{ pkgs, self }:

let
  # Provisioned at boot, outside the Nix store, the way sops-nix or agenix deliver secrets: a
  # random token in a root-only file. Being random and written at run time, it cannot be in
  # any store path; the test checks that the unit names the file, never its content.
  tokenFile = "/run/keys/jupyter-mcp-token";
in
pkgs.testers.runNixOSTest {
  name = "jupyter-mcp-module";

  # nixosModules.default sets nixpkgs.overlays, which a read-only node pkgs would refuse.
  node.pkgsReadOnly = false;

  nodes.machine =
    { config, pkgs, ... }:
    {
      imports = [ self.nixosModules.default ];

      virtualisation.memorySize = 2048;

      services.jupyter-mcp = {
        enable = true;
        inherit tokenFile;
      };

      systemd.services.provision-jupyter-mcp-token = {
        description = "Write the Jupyter token, as a secrets manager would";
        requiredBy = [ "jupyter-mcp.service" ];
        before = [ "jupyter-mcp.service" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = ''
          install -d -m 0750 ${dirOf tokenFile}
          (umask 0377 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > ${tokenFile})
        '';
      };

      # The checks command, and curl for the anonymous requests.
      environment.systemPackages = [
        config.services.jupyter-mcp.package
        pkgs.curl
      ];
    };

  testScript = builtins.readFile ./processes.py + ''
    import re

    token_file = "${tokenFile}"
    workspace = "/var/lib/jupyter-mcp/workspace"
    url = "http://127.0.0.1:8888/"
    check = f"jupyter-mcp check deploy --url {url} --token-file {token_file} --timeout 60"

    machine.wait_for_unit("jupyter-mcp.service")
    machine.wait_for_open_port(8888, addr="127.0.0.1")
    machine.wait_until_succeeds(f"curl -sf {url}api")

    with subtest("the deploy checks pass, with a notebook round trip"):
        report = machine.succeed(f"{check} --workspace {workspace} --roundtrip")
        print(report)
        # The checks command itself sends GET and POST /mcp without the token.
        assert "PASS  /mcp refuses anonymous requests" in report, report

    with subtest("the token reaches the service only as a credential"):
        assert machine.succeed(f"stat -c %a {token_file}").strip() == "400"
        unit_file = machine.succeed("readlink -f /etc/systemd/system/jupyter-mcp.service").strip()
        unit = machine.succeed(f"cat {unit_file}")
        assert f"LoadCredential=jupyter-token:{token_file}" in unit, unit
        config_arg = re.search(r'--config=([^"\s]+)', unit)
        assert config_arg, f"no --config in {unit}"
        config_file = config_arg.group(1)
        token = machine.succeed(f"cat {token_file}").strip()
        # grep exits 1 when neither file holds the token, 2 when one is missing: only 1 passes.
        status, _ = machine.execute(f"grep -qF -- {token} {unit_file} {config_file}")
        assert status == 1, f"grep exited {status}: the token is in the unit or the config"
        # The service user cannot read the file itself; it reads its credential copy.
        as_service_user = "setpriv --reuid jupyter-mcp --regid jupyter-mcp --clear-groups"
        machine.succeed(f"{as_service_user} cat /proc/version")
        machine.fail(f"{as_service_user} cat {token_file}")
        main_pid = machine.succeed(
            "systemctl show --property MainPID --value jupyter-mcp"
        ).strip()
        credential = "/run/credentials/jupyter-mcp.service/jupyter-token"
        mode = machine.succeed(
            f"nsenter --target {main_pid} --mount -- stat -c %a {credential}"
        )
        assert int(mode, 8) & 0o007 == 0, f"the credential is world-accessible: {mode}"

    with subtest("the server and its children run unprivileged"):
        uid = machine.succeed("id -u jupyter-mcp").strip()
        assert uid != "0"
        cgroup = machine.succeed(
            "systemctl show --property ControlGroup --value jupyter-mcp"
        ).strip()
        main_pid = machine.succeed(
            "systemctl show --property MainPID --value jupyter-mcp"
        ).strip()
        processes = process_status(machine, f"cat /sys/fs/cgroup{cgroup}/cgroup.procs")
        assert main_pid in processes, f"the server {main_pid} is not in {processes}"
        for proc in processes.values():
            assert re.search(rf"^Uid:\s+{uid}\s+{uid}\s", proc, re.M), proc
            assert re.search(r"^CapEff:\s+0+$", proc, re.M), proc
            assert re.search(r"^NoNewPrivs:\s+1$", proc, re.M), proc
        print(machine.succeed("systemd-analyze security --no-pager jupyter-mcp.service"))

    with subtest("the server restarts and serves the same workspace with the same token"):
        machine.succeed("systemctl restart jupyter-mcp.service")
        machine.wait_for_open_port(8888, addr="127.0.0.1")
        machine.wait_until_succeeds(f"curl -sf {url}api")
        print(machine.succeed(f"{check} --workspace {workspace}"))
  '';
}
