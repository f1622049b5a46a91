{
  lib,
  buildPythonPackage,
  callPackage,

  # build-system
  hatchling,

  # dependencies
  fastmcp,
  httpx,
  ipykernel,
  jupyter-client,
  jupyter-collaboration,
  jupyter-server,
  jupyter-server-fileid,
  jupyter-server-ydoc,
  jupyter-ydoc,
  jupyterlab,
  nbformat,
  pycrdt,
  tornado,
  traitlets,
}:

let
  pyproject = lib.importTOML ../../pyproject.toml;

  sources = lib.fileset.unions [
    ../../pyproject.toml
    ../../README.md
    ../../jupyter_mcp
    ../../jupyter-config
    ../../tests
    (lib.fileset.maybeMissing ../../bench)
  ];
in
buildPythonPackage {
  pname = "jupyter-mcp";
  inherit (pyproject.project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../..;
    # The NixOS VM tests are not part of the Python package.
    fileset = lib.fileset.difference sources (lib.fileset.maybeMissing ../../tests/nixos);
  };

  build-system = [ hatchling ];

  dependencies = [
    fastmcp
    # `jupyter-mcp check` talks to the server with it.
    httpx
    ipykernel
    jupyter-client
    jupyter-collaboration
    jupyter-server
    jupyter-server-fileid
    jupyter-server-ydoc
    jupyter-ydoc
    jupyterlab
    nbformat
    pycrdt
    tornado
    traitlets
  ];

  pythonImportsCheck = [ "jupyter_mcp" ];

  # Every test starts real `jupyter lab` processes, which enable server extensions from
  # `<sys.prefix>/etc/jupyter`. That needs a Python environment holding this package, which the
  # check phase (the bare interpreter plus PYTHONPATH) is not, so the suite runs in
  # `passthru.tests.pytest`, against `python.withPackages`.
  doCheck = false;

  passthru.tests.pytest = callPackage ./tests.nix { };

  meta = {
    inherit (pyproject.project) description;
    license = lib.licenses.bsd3;
    mainProgram = "jupyter-mcp";
  };
}
