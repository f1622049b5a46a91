{
  lib,
  buildPythonPackage,
  fetchPypi,

  # build-system
  hatch-jupyter-builder,
  hatchling,

  # dependencies
  jupyter-server,
  prometheus-client,
  psutil,
  pyzmq,

  # tests
  mock,
  pytestCheckHook,
}:

buildPythonPackage (finalAttrs: {
  pname = "jupyter-resource-usage";
  version = "1.3.0";
  pyproject = true;

  src = fetchPypi {
    pname = "jupyter_resource_usage";
    inherit (finalAttrs) version;
    hash = "sha256-FMJI3Bi4MVFQkKQLhj6mi+8mxypmoddL64lZ9poMnjc=";
  };

  # The sdist ships the prebuilt JupyterLab extension, so the jupyter-builder hook skips the
  # npm build (`skip-if-exists`): neither JupyterLab nor pip is needed to build the wheel.
  postPatch = ''
    substituteInPlace pyproject.toml \
      --replace-fail '"jupyterlab>=4.0,<5",' "" \
      --replace-fail '"pip",' ""
  '';

  build-system = [
    hatch-jupyter-builder
    hatchling
  ];

  dependencies = [
    jupyter-server
    prometheus-client
    psutil
    pyzmq
  ];

  nativeCheckInputs = [
    mock
    pytestCheckHook
  ];

  pythonImportsCheck = [ "jupyter_resource_usage" ];

  meta = {
    description = "Jupyter Server extension and JupyterLab status bar item showing resource usage";
    homepage = "https://github.com/jupyter-server/jupyter-resource-usage";
    changelog = "https://github.com/jupyter-server/jupyter-resource-usage/blob/v${finalAttrs.version}/CHANGELOG.md";
    license = lib.licenses.bsd3;
  };
})
