# The build-scope checks of `jupyter-mcp check`, run against the environment: JupyterLab is
# there, the extension imports and is enabled, spaCy loads en_core_web_sm.
{
  runCommand,
  jupyter-mcp-env,
}:

runCommand "jupyter-mcp-build-check"
  {
    nativeBuildInputs = [ jupyter-mcp-env ];
  }
  ''
    export HOME="$(mktemp -d)"
    jupyter-mcp check build --expect-spacy-model
    touch $out
  ''
