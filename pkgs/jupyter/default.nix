{
  lib,
  writeShellApplication,
  jupyter-mcp-env,
}:

writeShellApplication {
  name = "jupyter";

  text = ''
    exec ${lib.getExe' jupyter-mcp-env "jupyter-mcp"} lab "$@"
  '';

  meta = {
    description = "Start JupyterLab with real-time collaboration and an MCP server at /mcp, serving ~/workspace";
    mainProgram = "jupyter";
  };
}
