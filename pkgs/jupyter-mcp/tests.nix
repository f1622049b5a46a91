# The Python test suite of jupyter-mcp, run against the installed package in a Python
# environment, the way the product runs: the tests start `python -m jupyterlab` with
# `sys.executable`, whose `sys.prefix` must hold the extensions' `etc/jupyter` configuration.
{
  stdenvNoCC,
  python,
  jupyter-mcp,
}:

let
  testEnv = python.withPackages (ps: [
    jupyter-mcp
    ps.httpx
    # Imported by code the tests execute in kernels.
    ps.matplotlib
    ps.packaging
    ps.pytest
    ps.pytest-asyncio
    ps.pytest-timeout
    ps.websockets
  ]);
in
stdenvNoCC.mkDerivation {
  pname = "jupyter-mcp-tests";
  inherit (jupyter-mcp) version src;

  nativeBuildInputs = [ testEnv ];

  dontConfigure = true;
  dontBuild = true;
  doCheck = true;

  # The servers listen on 127.0.0.1, which the Linux sandbox provides.
  checkPhase = ''
    runHook preCheck

    # Test the installed package, not the source tree.
    rm -r jupyter_mcp
    export HOME="$(mktemp -d)"
    python -m pytest -p no:cacheprovider tests

    runHook postCheck
  '';

  installPhase = ''
    touch $out
  '';
}
