"""The path policy: one name per notebook spelling, nothing outside the root."""

from pathlib import Path

import pytest

from jupyter_mcp.errors import NotebookError
from jupyter_mcp.paths import resolve, resolve_notebook


@pytest.fixture
def root(tmp_path: Path) -> Path:
    real = tmp_path / "real-root"
    (real / "sub").mkdir(parents=True)
    (real / "nb.ipynb").write_text("{}")
    (tmp_path / "outside.ipynb").write_text("{}")
    (real / "escape.ipynb").symlink_to(tmp_path / "outside.ipynb")
    (real / "alias.ipynb").symlink_to(real / "nb.ipynb")
    (tmp_path / "linked-root").symlink_to(real)
    return tmp_path / "linked-root"  # the server's root as configured, through a symlink


def test_every_spelling_names_one_notebook(root: Path) -> None:
    spellings = [
        "nb.ipynb", "./nb.ipynb", "sub/../nb.ipynb", " nb.ipynb ", str(root / "nb.ipynb"),
        str(root.resolve() / "nb.ipynb"), str(root / "sub" / ".." / "nb.ipynb"),
    ]  # fmt: skip
    assert {resolve_notebook(str(root), s) for s in spellings} == {"nb.ipynb"}


def test_a_link_inside_the_root_keeps_its_own_name(root: Path) -> None:
    assert resolve_notebook(str(root), "alias.ipynb") == "alias.ipynb"


@pytest.mark.parametrize(
    "path", ["../outside.ipynb", "sub/../../outside.ipynb", "/etc/passwd", "escape.ipynb"]
)
def test_paths_leading_out_are_refused(root: Path, path: str) -> None:
    with pytest.raises(NotebookError, match="outside the server root"):
        resolve(str(root), path)


def test_an_absolute_path_elsewhere_is_refused(root: Path) -> None:
    with pytest.raises(NotebookError, match="outside the server root"):
        resolve(str(root), str(root.parent / "outside.ipynb"))


@pytest.mark.parametrize(
    ("path", "message"),
    [("", "empty"), ("   ", "empty"), ("a\0.ipynb", "NUL"), ("notes.txt", "not a notebook"),
     (".", "not a notebook"), ("missing.ipynb", "does not exist")],
)  # fmt: skip
def test_bad_paths_get_clear_errors(root: Path, path: str, message: str) -> None:
    with pytest.raises(NotebookError, match=message):
        resolve_notebook(str(root), path)


def test_a_new_notebook_need_not_exist(root: Path) -> None:
    assert resolve_notebook(str(root), "sub/new.ipynb", must_exist=False) == "sub/new.ipynb"
