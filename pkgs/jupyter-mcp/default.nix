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
  jupyter-core,
  jupyter-server,
  jupyter-server-fileid,
  jupyter-server-ydoc,
  jupyter-ydoc,
  jupyterlab,
  mcp,
  nbformat,
  pycrdt,
  pycrdt-websocket,
  pydantic,
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

  # The dependencies of pyproject.toml, whose floors admit what nixpkgs ships at the
  # flake.lock pin (fastmcp 3.4 on mcp 1.x); fastmcp 4 on mcp 2 works as well.
  dependencies = [
    fastmcp
    # `jupyter-mcp check` talks to the server with it.
    httpx
    ipykernel
    jupyter-client
    jupyter-collaboration
    jupyter-core
    jupyter-server
    jupyter-server-fileid
    jupyter-server-ydoc
    jupyter-ydoc
    jupyterlab
    mcp
    nbformat
    pycrdt
    pycrdt-websocket
    pydantic
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
