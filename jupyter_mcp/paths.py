"""Path policy: every spelling of a notebook resolves to one API path inside the root."""

import os
from pathlib import Path, PurePosixPath

from .errors import NotebookError


def resolve(root_dir: str, path: str) -> str:
    """Return the canonical API path (relative, '/'-separated) of `path` under `root_dir`.

    Relative paths are taken from the root; absolute paths must lie inside it. The name is
    normalised lexically, as JupyterLab names the file it opens (so both reach one room);
    the confinement check follows symlinks, so a link leading outside the root is refused.
    """
    if not isinstance(path, str) or not path.strip():
        raise NotebookError("The path is empty: give a notebook path relative to the server root.")
    if "\0" in path:
        raise NotebookError("The path contains a NUL character.")
    outside = NotebookError(
        f"'{path}' is outside the server root; use a path inside it, e.g. 'analysis.ipynb'."
    )
    root, real_root = Path(os.path.abspath(root_dir)), Path(os.path.realpath(root_dir))
    candidate = Path(os.path.normpath(path.strip()))
    if candidate.is_absolute():
        # Through the root as configured, or through the directory it really is.
        for base in (root, real_root):
            if candidate == base or base in candidate.parents:
                candidate = candidate.relative_to(base)
                break
        else:
            raise outside
    if candidate.parts[:1] == ("..",):
        raise outside
    real = Path(os.path.realpath(root / candidate))
    if real != real_root and real_root not in real.parents:
        raise outside
    return PurePosixPath(candidate).as_posix()


def resolve_notebook(root_dir: str, path: str, *, must_exist: bool = True) -> str:
    """Like `resolve`, and the path must name an `.ipynb` file (existing, unless told not)."""
    api_path = resolve(root_dir, path)
    if not api_path.endswith(".ipynb"):
        raise NotebookError(f"'{path}' is not a notebook: notebook paths end in '.ipynb'.")
    full = os.path.join(root_dir, api_path)
    if must_exist and not os.path.isfile(full):
        raise NotebookError(
            f"Notebook '{api_path}' does not exist; notebook_list shows the notebooks there are."
        )
    return api_path


def list_notebooks(root_dir: str) -> list[str]:
    """Every `.ipynb` under the root, skipping hidden entries and checkpoint folders.

    Symlinked folders are not followed; a symlinked file is listed only when it resolves
    inside the root. One scandir per folder, whose entries know their type and whether they
    are links without another system call (1,000 notebooks in 100 folders: a few ms).
    """
    root = os.path.realpath(root_dir)
    found: list[str] = []
    folders = [("", root)]
    while folders:
        rel_dir, folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # unreadable, or gone meanwhile
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            rel = rel_dir + name
            if name.endswith(".ipynb") and entry.is_file():
                if entry.is_symlink() and not _inside(root, os.path.realpath(entry.path)):
                    continue
                found.append(rel)
            elif name != "__pycache__" and entry.is_dir(follow_symlinks=False):
                folders.append((rel + "/", entry.path))
    return sorted(found)


def _inside(root: str, path: str) -> bool:
    return path.startswith(root + os.sep)
