# The OCI image: JupyterLab with real-time collaboration and /mcp on port 8888, run as the
# unprivileged user `jupyter` (1000:1000) under tini, serving the volume
# /home/jupyter/workspace. The token is read from /run/secrets/jupyter-token when that file
# exists (a Docker/Podman secret); otherwise the launcher generates one and prints it.
#
#   nix build .#image && ./result | docker image load
#   docker run -p 8888:8888 -v notebooks:/home/jupyter/workspace jupyter-mcp:latest
{
  lib,
  dockerTools,
  bashInteractive,
  coreutils,
  tini,
  python3Packages,
  jupyter-mcp-env,
  # Where the image's sources are published, for `org.opencontainers.image.source`.
  sourceUrl ? "https://github.com/jupyter-mcp/jupyter-mcp",
}:

let
  user = "jupyter";
  uid = 1000;
  gid = 1000;
  home = "/home/${user}";
  workspace = "${home}/workspace";
  port = 8888;

  nss = dockerTools.fakeNss.override {
    extraPasswdLines = [
      "${user}:x:${toString uid}:${toString gid}:JupyterLab:${home}:${lib.getExe' bashInteractive "bash"}"
    ];
    extraGroupLines = [ "${user}:x:${toString gid}:" ];
  };
in
dockerTools.streamLayeredImage {
  name = "jupyter-mcp";
  tag = "latest";

  contents = [
    jupyter-mcp-env
    tini
    # What a shell user needs, in JupyterLab's terminals or `docker exec`.
    bashInteractive
    coreutils
    dockerTools.binSh
    dockerTools.usrBinEnv
    dockerTools.caCertificates
    nss
  ];

  fakeRootCommands = ''
    mkdir -p .${workspace}
    chown -R ${toString uid}:${toString gid} .${home}
    chmod 0750 .${home}

    mkdir -p ./tmp
    chmod 1777 ./tmp
  '';

  config = {
    User = "${toString uid}:${toString gid}";
    WorkingDir = home;
    # tini is PID 1: it forwards signals to the server and reaps orphaned kernel processes.
    Entrypoint = [
      (lib.getExe' tini "tini")
      "--"
    ];
    Cmd = [
      "jupyter-mcp"
      "lab"
      "--ip"
      "0.0.0.0"
      "--port"
      (toString port)
      "--workspace"
      workspace
    ];
    Env = [
      "PATH=/bin"
      "HOME=${home}"
      "USER=${user}"
      "SHELL=${lib.getExe' bashInteractive "bash"}"
      "LANG=C.UTF-8"
      "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
      "JUPYTER_TOKEN_FILE=/run/secrets/jupyter-token"
    ];
    ExposedPorts = {
      "${toString port}/tcp" = { };
    };
    Volumes = {
      ${workspace} = { };
    };
    Labels = {
      "org.opencontainers.image.title" = "jupyter-mcp";
      "org.opencontainers.image.description" =
        "Collaborative JupyterLab whose own server serves an MCP server at /mcp on the live notebooks";
      "org.opencontainers.image.source" = sourceUrl;
      "org.opencontainers.image.licenses" = "BSD-3-Clause";
      "org.opencontainers.image.version" = python3Packages.jupyter-mcp.version;
      "io.github.jupyter-mcp.mcp-endpoint" = "/mcp";
      "io.github.jupyter-mcp.mcp-port" = toString port;
      "io.github.jupyter-mcp.mcp-transport" = "streamable-http";
    };
  };
}
