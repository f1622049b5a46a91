{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  cfg = config.services.jupyter-mcp;

  stateDir = "/var/lib/jupyter-mcp";
  cacheDir = "/var/cache/jupyter-mcp";

  # The name of the token inside the unit's credentials directory (%d).
  credentialName = "jupyter-token";
  # Used when no tokenFile is given: generated once, kept across restarts, never logged.
  generatedTokenFile = "${stateDir}/token";

  settingsFormat = pkgs.formats.json { };
  configFile = settingsFormat.generate "jupyter-mcp-config.json" cfg.settings;

  isLoopback =
    address:
    lib.elem address [
      "localhost"
      "::1"
    ]
    || lib.hasPrefix "127." address;

  isUnder = dir: path: path == dir || lib.hasPrefix "${dir}/" path;
  workspaceInStateDir = isUnder stateDir cfg.workspace;
  workspaceUnderHome = lib.any (dir: isUnder dir cfg.workspace) [
    "/home"
    "/root"
    "/run/user"
  ];

  generateToken = pkgs.writeShellScript "jupyter-mcp-generate-token" ''
    if [ ! -s ${generatedTokenFile} ]; then
      umask 077
      tr -dc 'A-Za-z0-9' </dev/urandom | head -c 48 >${generatedTokenFile}.new
      mv ${generatedTokenFile}.new ${generatedTokenFile}
    fi
  '';
in
{
  options.services.jupyter-mcp = {
    enable = lib.mkEnableOption "JupyterLab with real-time collaboration and an MCP server at /mcp";

    package = lib.mkPackageOption pkgs "jupyter-mcp-env" { } // {
      apply = package: package.override { inherit (cfg) extraPythonPackages; };
    };

    extraPythonPackages = lib.mkOption {
      type = lib.types.functionTo (lib.types.listOf lib.types.package);
      default = _: [ ];
      defaultText = lib.literalExpression "ps: [ ]";
      example = lib.literalExpression "ps: [ ps.requests ps.openpyxl ]";
      description = ''
        Extra Python packages available to the server and its kernels, taken from the
        Python package set of {option}`services.jupyter-mcp.package`.
      '';
    };

    listenAddress = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1";
      example = "0.0.0.0";
      description = ''
        Address JupyterLab and the MCP server listen on. Any address other than loopback
        requires {option}`services.jupyter-mcp.tokenFile`.
      '';
    };

    port = lib.mkOption {
      type = lib.types.port;
      default = 8888;
      description = "Port JupyterLab and the MCP server (at `/mcp`) listen on.";
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Whether to open {option}`services.jupyter-mcp.port` in the firewall.";
    };

    workspace = lib.mkOption {
      type = lib.types.pathWith {
        absolute = true;
        inStore = false;
      };
      default = "${stateDir}/workspace";
      example = "/srv/notebooks";
      description = ''
        Directory served as the Jupyter root: the notebooks people and agents work on.
        Created if missing. A directory outside ${stateDir} is created by
        systemd-tmpfiles, owned by {option}`services.jupyter-mcp.user` and
        {option}`services.jupyter-mcp.group` with mode 0750, and made writable for the
        service.
      '';
    };

    tokenFile = lib.mkOption {
      type = lib.types.nullOr (
        lib.types.pathWith {
          absolute = true;
          inStore = false;
        }
      );
      default = null;
      example = "/run/secrets/jupyter-token";
      description = ''
        File holding the Jupyter token that JupyterLab and MCP clients authenticate with
        (`Authorization: token <token>`). It is passed to the service with systemd's
        `LoadCredential=`, so it may be readable by root only, and it never enters the Nix
        store (a path in the store is refused).

        When `null`, a token is generated on first start and kept in
        `${generatedTokenFile}` (readable by the service user only).
      '';
    };

    user = lib.mkOption {
      type = lib.types.str;
      default = "jupyter-mcp";
      description = ''
        User the server and its kernels run as. The default user is created; any other
        must exist.
      '';
    };

    group = lib.mkOption {
      type = lib.types.str;
      default = "jupyter-mcp";
      description = ''
        Group of the service. Its members can read the state directory and the workspace.
        The default group is created; any other must exist.
      '';
    };

    mcp = {
      roomIdleTimeout = lib.mkOption {
        type = lib.types.ints.positive;
        default = 600;
        description = ''
          Seconds after which a notebook room that only MCP opened, and that nobody is
          connected to, is saved and closed (`MCPExtension.room_idle_timeout`).
        '';
      };

      serverName = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "lab-agent";
        description = ''
          Name of the MCP server, shown to MCP clients and to JupyterLab users as the agent's
          name (`MCPExtension.server_name`). `null` keeps the extension's default, `jupyter`.
        '';
      };
    };

    settings = lib.mkOption {
      type = lib.types.submodule { freeformType = settingsFormat.type; };
      default = { };
      example = lib.literalExpression ''
        {
          MCPExtension.max_output_chars = 50000;
          ServerApp.allow_remote_access = true;
          ZMQChannelsWebsocketConnection.iopub_data_rate_limit = 1.0e7;
        }
      '';
      description = ''
        Jupyter configuration, written to a JSON config file that the server loads: each key
        is a configurable class, each value its traits. The extension's options are the
        traits of `MCPExtension` (`server_name`, `room_idle_timeout`, `presence_timeout`,
        `max_source_chars`, `max_request_bytes`, `max_output_chars`, `execution_timeout`,
        `max_execution_timeout`, `kernel_ready_timeout`, `execution_retention`,
        `execution_retention_count`, `disabled_tools`). The collaboration and file-id databases are kept in
        ${stateDir} by default.

        The listen address, port and root directory come from the options above and take
        precedence over `ServerApp.ip`, `ServerApp.port` and `ServerApp.root_dir` here.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = isLoopback cfg.listenAddress || cfg.tokenFile != null;
        message =
          "services.jupyter-mcp.listenAddress = \"${cfg.listenAddress}\" is not loopback: "
          + "set services.jupyter-mcp.tokenFile to a file holding the Jupyter token.";
      }
    ];

    services.jupyter-mcp.settings = {
      MCPExtension = {
        room_idle_timeout = cfg.mcp.roomIdleTimeout;
      }
      // lib.optionalAttrs (cfg.mcp.serverName != null) { server_name = cfg.mcp.serverName; };
      # Generated state stays out of the workspace.
      SQLiteYStore.db_path = lib.mkDefault "${stateDir}/ystore.db";
      BaseFileIdManager.db_path = lib.mkDefault "${stateDir}/file_id_manager.db";
      YDocExtension.session_store_path = lib.mkDefault "${stateDir}/collaboration_sessions.json";
    };

    users.users = lib.mkIf (cfg.user == "jupyter-mcp") {
      jupyter-mcp = {
        isSystemUser = true;
        inherit (cfg) group;
        home = stateDir;
        description = "JupyterLab MCP server";
      };
    };

    users.groups = lib.mkIf (cfg.group == "jupyter-mcp") { jupyter-mcp = { }; };

    systemd.tmpfiles.settings."10-jupyter-mcp" = lib.mkIf (!workspaceInStateDir) {
      ${cfg.workspace}.d = {
        inherit (cfg) user group;
        mode = "0750";
      };
    };

    systemd.services.jupyter-mcp = {
      description = "JupyterLab with real-time collaboration and an MCP server";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];

      # A shell for JupyterLab's terminals; the environment's programs for kernels and terminals.
      path = [
        cfg.package
        pkgs.bashInteractive
      ];

      environment = {
        # Jupyter's config, data and runtime files (its cookie secret too, so browser sessions
        # survive restarts) live under $HOME.
        HOME = stateDir;
        SHELL = lib.getExe' pkgs.bashInteractive "bash";
        XDG_CACHE_HOME = cacheDir;
        JUPYTER_TOKEN_FILE =
          if cfg.tokenFile != null then "%d/${credentialName}" else generatedTokenFile;
      };

      serviceConfig = {
        Type = "exec";
        ExecStartPre = lib.mkIf (cfg.tokenFile == null) generateToken;
        ExecStart = utils.escapeSystemdExecArgs [
          (lib.getExe' cfg.package "jupyter-mcp")
          "lab"
          "--ip"
          cfg.listenAddress
          "--port"
          cfg.port
          "--workspace"
          cfg.workspace
          "--config=${configFile}"
        ];
        LoadCredential = lib.mkIf (cfg.tokenFile != null) [ "${credentialName}:${cfg.tokenFile}" ];
        User = cfg.user;
        Group = cfg.group;
        StateDirectory = "jupyter-mcp";
        StateDirectoryMode = "0750";
        CacheDirectory = "jupyter-mcp";
        CacheDirectoryMode = "0700";
        WorkingDirectory = stateDir;
        ReadWritePaths = lib.mkIf (!workspaceInStateDir) [ cfg.workspace ];
        Restart = "on-failure";
        RestartSec = 5;
        # Jupyter shuts its kernels down itself on SIGTERM; whatever is left when it exits, or
        # when it hangs on an open collaboration websocket, is killed after the timeout.
        KillMode = "mixed";
        TimeoutStopSec = 30;

        # Hardening. Kernels run arbitrary user code: they fork, talk ZeroMQ over loopback TCP
        # and Unix sockets, read /proc and netlink (psutil) and may JIT (numba), so no
        # MemoryDenyWriteExecute, no ProcSubset=pid, and a denied syscall fails with EPERM
        # instead of killing the kernel.
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        NoNewPrivileges = true;
        DeviceAllow = "";
        PrivateDevices = true;
        PrivateTmp = true;
        PrivateMounts = true;
        ProtectSystem = "strict";
        ProtectHome = if workspaceUnderHome then "read-only" else true;
        ProtectClock = true;
        ProtectControlGroups = true;
        ProtectHostname = true;
        ProtectKernelLogs = true;
        ProtectKernelModules = true;
        ProtectKernelTunables = true;
        ProtectProc = "invisible";
        LockPersonality = true;
        RemoveIPC = true;
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
          "AF_NETLINK"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
        ];
        SystemCallErrorNumber = "EPERM";
        UMask = "0027";
      };
    };

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ cfg.port ];
  };
}
