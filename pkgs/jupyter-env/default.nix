{
  lib,
  python3,
  symlinkJoin,
  makeWrapper,
  git,
  graphviz,
  # Extra packages for the environment, taken from its Python package set: `ps: [ ps.requests ]`.
  extraPythonPackages ? (_: [ ]),
}:

let
  python = python3.withPackages (
    ps:
    [
      ps.jupyter-mcp
      ps.jupyterlab
      ps.jupyter-collaboration
      ps.ipykernel
      ps.ipywidgets
      ps.jupyterlab-git
      ps.jupyter-resource-usage

      ps.black
      ps.duckdb
      ps.graphviz
      ps.matplotlib
      ps.numpy
      ps.pandas
      ps.polars
      ps.pyarrow
      ps.pytest
      ps.pyyaml
      ps.scikit-learn
      ps.scipy
      ps.seaborn
      ps.spacy
      ps.spacy-models.en_core_web_sm
      ps.tqdm
    ]
    ++ extraPythonPackages ps
  );

  # Programs that JupyterLab, its kernels and its terminals call: jupyterlab-git runs `git`, the
  # graphviz Python package runs `dot`.
  runtimePrograms = [
    git
    graphviz
  ];
in
symlinkJoin {
  name = "jupyter-mcp-env-${python3.pkgs.jupyter-mcp.version}";
  paths = [ python ];

  nativeBuildInputs = [ makeWrapper ];

  # The environment's own programs come first, so that `python`, `pytest` or `black` in a
  # terminal or a `!command` in a notebook are this environment's.
  postBuild = ''
    for program in jupyter jupyter-lab jupyter-mcp; do
      wrapProgram "$out/bin/$program" \
        --prefix PATH : "$out/bin:${lib.makeBinPath runtimePrograms}"
    done
  '';

  passthru = {
    inherit python;
  };

  meta = {
    description = "JupyterLab with real-time collaboration, /mcp and a data-science Python environment";
    mainProgram = "jupyter-mcp";
  };
}
