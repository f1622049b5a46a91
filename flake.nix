{
  description = "Collaborative JupyterLab whose own server serves an MCP server at /mcp on the live notebooks";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];

      forAllSystems =
        f:
        lib.genAttrs systems (
          system:
          f (
            import nixpkgs {
              inherit system;
              overlays = [ self.overlays.default ];
            }
          )
        );
    in
    {
      # The extension and jupyter-resource-usage join every Python package set; the
      # environment and the launcher are top-level packages.
      overlays.default = final: prev: {
        pythonPackagesExtensions = prev.pythonPackagesExtensions ++ [
          (pyfinal: pyprev: {
            jupyter-mcp = pyfinal.callPackage ./pkgs/jupyter-mcp { };
            jupyter-resource-usage = pyfinal.callPackage ./pkgs/jupyter-resource-usage { };
          })
        ];

        jupyter-mcp-env = final.callPackage ./pkgs/jupyter-env { };
        jupyter-mcp-launcher = final.callPackage ./pkgs/jupyter { };
      };

      packages = forAllSystems (pkgs: {
        jupyter-mcp = pkgs.python3Packages.jupyter-mcp;
        jupyter-env = pkgs.jupyter-mcp-env;
        jupyter = pkgs.jupyter-mcp-launcher;
        image = pkgs.callPackage ./images { };
        default = pkgs.jupyter-mcp-launcher;
      });

      apps = forAllSystems (
        pkgs:
        let
          jupyter = {
            type = "app";
            program = lib.getExe pkgs.jupyter-mcp-launcher;
            meta.description = pkgs.jupyter-mcp-launcher.meta.description;
          };
        in
        {
          inherit jupyter;
          default = jupyter;
        }
      );

      nixosModules.default = {
        imports = [ ./modules/jupyter.nix ];
        nixpkgs.overlays = [ self.overlays.default ];
      };

      checks = forAllSystems (pkgs: {
        build-check = pkgs.callPackage ./pkgs/jupyter-env/build-check.nix { };
        python-tests = pkgs.python3Packages.jupyter-mcp.passthru.tests.pytest;
        vm-module = import ./tests/nixos/module.nix { inherit pkgs self; };
        vm-image = import ./tests/nixos/image.nix { inherit pkgs self; };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.jupyter-mcp-env
            pkgs.nil
            pkgs.nixfmt
            pkgs.ruff
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt);
    };
}
