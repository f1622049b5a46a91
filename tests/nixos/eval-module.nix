# Evaluates modules/jupyter.nix with nixpkgs' `lib` alone (no nixpkgs checkout; Nix 2.8 is
# enough): loose declarations of the NixOS options the module sets, a stub `pkgs`, and the
# `utils` escaping functions of nixos/lib/utils.nix. Returns plain data for
# tests/test_nix_module.py.
#
#   nix-instantiate --eval --strict --json tests/nixos/eval-module.nix \
#     --arg lib 'import /path/to/nixpkgs/lib' --arg config '{ enable = true; }'
{
  lib,
  # Definitions for services.jupyter-mcp.
  config,
}:

let
  hashOf = value: builtins.hashString "sha256" (builtins.toJSON value);
  storePath = name: "${builtins.storeDir}/${builtins.substring 0 32 (hashOf name)}-${name}";

  fakeDerivation =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = storePath name;
    }
    // extra;

  # Enough of a Python package set for `extraPythonPackages = ps: [ ... ]`.
  pythonPackages = lib.genAttrs [
    "requests"
    "openpyxl"
    "torch"
  ] (name: fakeDerivation "python3.13-${name}" { pname = name; });

  # Like the flake's jupyter-mcp-env: `.override { extraPythonPackages = ps: [ ... ]; }` gives
  # an environment whose store path names its extra packages.
  jupyterMcpEnv =
    extra:
    fakeDerivation "jupyter-mcp-env${lib.concatMapStrings (p: "-${p.pname}") extra}" {
      override =
        {
          extraPythonPackages ? _: [ ],
        }:
        jupyterMcpEnv (extra ++ extraPythonPackages pythonPackages);
    };

  # The JSON format of nixpkgs' pkgs/pkgs-lib/formats.nix; `generate` names the file after a
  # hash of its content, so the test can tell which settings a path renders.
  jsonFormat =
    { }:
    {
      type =
        let
          valueType =
            with lib.types;
            nullOr (oneOf [
              bool
              int
              float
              str
              path
              (attrsOf valueType)
              (listOf valueType)
            ])
            // {
              description = "JSON value";
            };
        in
        valueType;
      generate = name: value: storePath "${hashOf value}-${name}";
    };

  pkgs = {
    formats.json = jsonFormat;
    jupyter-mcp-env = jupyterMcpEnv [ ];
    bashInteractive = fakeDerivation "bash-interactive-5.3" { };
    writeShellScript = name: text: storePath name;
  };

  # nixos/lib/utils.nix
  utils = rec {
    escapeSystemdExecArg =
      arg:
      let
        s =
          if builtins.isPath arg then
            "${arg}"
          else if builtins.isString arg then
            arg
          else if builtins.isInt arg || builtins.isFloat arg || lib.isDerivation arg then
            toString arg
          else
            throw "escapeSystemdExecArg only allows strings, paths, numbers and derivations";
      in
      builtins.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);
    escapeSystemdExecArgs = lib.concatMapStringsSep " " escapeSystemdExecArg;
  };

  loose =
    type: default:
    lib.mkOption {
      inherit type default;
    };

  nixosStubs = {
    options = {
      assertions = loose (lib.types.listOf lib.types.unspecified) [ ];
      warnings = loose (lib.types.listOf lib.types.str) [ ];
      users.users = loose (lib.types.attrsOf lib.types.anything) { };
      users.groups = loose (lib.types.attrsOf lib.types.anything) { };
      systemd.services = loose (lib.types.attrsOf lib.types.anything) { };
      systemd.tmpfiles.settings = loose (lib.types.attrsOf lib.types.anything) { };
      networking.firewall.allowedTCPPorts = loose (lib.types.listOf lib.types.port) [ ];
    };
  };

  evaluated = lib.evalModules {
    modules = [
      ../../modules/jupyter.nix
      nixosStubs
      { services.jupyter-mcp = config; }
      {
        _module.args = {
          inherit pkgs utils;
        };
      }
    ];
  };

  cfg = evaluated.config;

  # Derivations become their store paths, functions a marker: everything toJSON-able.
  plain =
    value:
    if lib.isDerivation value then
      value.outPath
    else if builtins.isAttrs value then
      lib.mapAttrs (_: plain) value
    else if builtins.isList value then
      map plain value
    else if builtins.isFunction value then
      "<function>"
    else
      value;
in
{
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) cfg.assertions);
  warnings = cfg.warnings;
  unit = plain (cfg.systemd.services.jupyter-mcp or null);
  firewallTCPPorts = cfg.networking.firewall.allowedTCPPorts;
  users = plain cfg.users.users;
  groups = plain cfg.users.groups;
  tmpfiles = plain cfg.systemd.tmpfiles.settings;
  package = plain cfg.services.jupyter-mcp.package;
  settings = plain cfg.services.jupyter-mcp.settings;
  settingsHash = hashOf cfg.services.jupyter-mcp.settings;
}
