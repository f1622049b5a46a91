"""Cell edits on a live YNotebook, made the way a collaborator would make them."""

import asyncio
import hashlib
import json
import re
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from difflib import SequenceMatcher
from typing import Any
from uuid import uuid4

from jupyter_ydoc import YNotebook
from pycrdt import Map, Text

from . import changes
from .errors import NotebookError

CELL_TYPES = ("code", "markdown", "raw")
# Lines times lines above which a gap between anchors is one changed run, not a difflib diff.
MAX_GAP_PRODUCT = 40_000
MAX_TEXT_EDITS = 16  # per cell update: see _fewest


def locate(nb: YNotebook, index: int | None, cell_id: str | None) -> int:
    """The position of the cell named by exactly one of `index` and `cell_id`."""
    if (index is None) == (cell_id is None):
        raise NotebookError("Name the cell by exactly one of 'index' or 'cell_id'.")
    count = len(nb.ycells)
    if cell_id is not None:
        i = position(nb, cell_id)
        if i is None:
            raise NotebookError(
                f"No cell has id '{cell_id}'; notebook_get lists the cells with their ids."
            )
        return i
    assert index is not None
    if not 0 <= index < count:
        raise NotebookError(
            f"Cell index {index} is out of range: the notebook has {count} cells "
            f"(indices 0 to {count - 1})."
        )
    return index


def position(nb: YNotebook, cell_id: str) -> int | None:
    """Where the cell with id `cell_id` is, or None. The document's change log knows the
    order of the ids; a scan of the cells, about 50 µs each, is the fallback."""
    ids = changes.cell_ids(nb)
    with nb.ydoc.transaction():  # one transaction for the whole lookup, not one per cell
        if ids is not None and cell_id in ids:
            i = ids.index(cell_id)
            if i < len(nb.ycells) and nb.ycells[i].get("id") == cell_id:
                return i
        for i, ycell in enumerate(nb.ycells):
            if ycell.get("id") == cell_id:
                return i
    return None


def code_cells(nb: YNotebook) -> list[tuple[int, str]]:
    """(index, id) of every code cell. Serialised on pycrdt's Rust side: reading two keys of
    each cell from Python takes a second on 10,000 cells, all of it on the event loop."""
    cells = json.loads(str(nb.ycells))
    return [(i, c["id"]) for i, c in enumerate(cells) if c.get("cell_type") == "code"]


def indices(nb: YNotebook) -> dict[str, int]:
    """Each cell's position, by cell id: from the order the change log follows (a run asks
    for it with every answer), else by a scan."""
    ids = changes.cell_ids(nb)
    if ids is not None and len(ids) == len(nb.ycells):
        return {cell_id: i for i, cell_id in enumerate(ids)}
    with nb.ydoc.transaction():
        return {ycell.get("id"): i for i, ycell in enumerate(nb.ycells)}


def check_cell_type(cell_type: str) -> None:
    if cell_type not in CELL_TYPES:
        raise NotebookError(f"cell_type must be one of {', '.join(CELL_TYPES)}; got '{cell_type}'.")


def view(nb: YNotebook, index: int) -> dict[str, Any]:
    """The cell as nbformat has it, with its id and index."""
    return {"index": index, **_nbformat_cell(json.loads(str(nb.ycells[index])))}


def metadata(nb: YNotebook) -> dict[str, Any]:
    """The notebook's metadata, without reading its cells."""
    return json.loads(str(nb.ydoc.get("meta", type=Map))).get("metadata", {})


def read(nb: YNotebook, start: int = 0, stop: int | None = None) -> dict[str, Any]:
    """The notebook as nbformat has it, cell ids always included; with `stop`, only the
    cells from `start` to `stop` (`first` and `cell_count` say which of how many).

    Serialised by pycrdt's Rust side (`str()` is JSON), about ten times faster than
    YNotebook.get(), which converts every cell key by key; a page serialises only its own
    cells, so that reading 20 cells of 10,000 costs what 20 cells cost.
    """
    with nb.ydoc.transaction():
        count = len(nb.ycells)
        if stop is None:
            start, cells = 0, json.loads(str(nb.ycells))
        else:
            stop = min(max(stop, start), count)
            cells = [json.loads(str(nb.ycells[i])) for i in range(start, stop)]
        meta = json.loads(str(nb.ydoc.get("meta", type=Map)))
    return {
        "first": start,
        "cell_count": count,
        "cells": [_nbformat_cell(cell) for cell in cells],
        "metadata": meta.get("metadata", {}),
        "nbformat": int(meta.get("nbformat", 4)),
        "nbformat_minor": int(meta.get("nbformat_minor", 5)),
    }


def _nbformat_cell(cell: dict[str, Any]) -> dict[str, Any]:
    cell.pop("execution_state", None)  # collaboration state, not part of nbformat
    # Set on load by Jupyter's notebook signing, and never saved (nbformat's strip_transient).
    cell.get("metadata", {}).pop("trusted", None)
    if isinstance(cell.get("execution_count"), float):  # Yjs numbers are floats
        cell["execution_count"] = int(cell["execution_count"])
    if cell.get("cell_type") != "code" and not cell.get("attachments", True):
        del cell["attachments"]
    return cell


def update(nb: YNotebook, index: int, source: str, cell_type: str | None) -> None:
    """Change a cell's source as a minimal text edit; keep its id, place and metadata.

    A change of cell type replaces the cell (same id, source and metadata) in one transaction,
    as JupyterLab does, since its cell models are typed.
    """
    ycell: Map = nb.ycells[index]
    if cell_type is None or cell_type == ycell["cell_type"]:
        with nb.ydoc.transaction():
            edit_text(ycell["source"], source)
        return
    metadata = ycell["metadata"].to_py() if "metadata" in ycell else {}
    with nb.ydoc.transaction():
        nb.ycells[index] = _new_ycell(nb, ycell["id"], cell_type, source, metadata)


def edit_text(text: Text, new: str) -> None:
    """Turn `text` into `new` with few, small changes: lines that a line diff finds unchanged,
    and the unchanged start and end of every changed run of lines, are kept, so that other
    people's cursors and concurrent edits there survive. Call it inside a transaction."""
    old = str(text)
    if old == new:
        return
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    # pycrdt indexes Text by UTF-8 byte: where each old line starts, in bytes.
    line_starts = [0]
    for line in old_lines:
        line_starts.append(line_starts[-1] + len(line.encode()))
    edits = []
    for i1, i2, j1, j2 in _changed_runs(old_lines, new_lines):
        before, after = "".join(old_lines[i1:i2]), "".join(new_lines[j1:j2])
        head = _common_prefix(before, after)
        tail = _common_prefix(before[head:][::-1], after[head:][::-1])
        start = line_starts[i1] + len(before[:head].encode())
        end = start + len(before[head : len(before) - tail].encode())
        edits.append((start, end, after[head : len(after) - tail]))
    # Applied last to first, so that earlier offsets stay valid.
    for start, end, replacement in reversed(edits):
        if end > start:
            del text[start:end]
        if replacement:
            text.insert(start, replacement)


def _changed_runs(old: list[str], new: list[str]) -> list[tuple[int, int, int, int]]:
    """The runs of lines that differ, as (old start, old end, new start, new end).

    A patience diff, so that the cost stays near linear on any edit of a long cell (difflib
    alone takes minutes on 20,000 lines with every other one changed, all that time on the
    server's event loop): the lines that occur once in each version and keep their order
    anchor the match; between anchors, difflib sees only a small gap, and a gap too large
    for it is one changed run."""
    runs: list[tuple[int, int, int, int]] = []
    i = j = 0
    for a, b in [*_anchors(old, new), (len(old), len(new))]:
        runs += _gap_runs(old, new, i, a, j, b)
        i, j = a + 1, b + 1
    return _fewest(runs)


def _fewest(runs: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """At most MAX_TEXT_EDITS runs: the runs separated by the shortest unchanged stretches
    are merged. Each edit of a long text costs in proportion to where it lands (pycrdt
    finds the place from the start within a transaction), so thousands of small edits of a
    long cell would hold the event loop for seconds."""
    if len(runs) <= MAX_TEXT_EDITS:
        return runs
    gaps = sorted(range(1, len(runs)), key=lambda k: runs[k][0] - runs[k - 1][1])
    cuts = sorted(gaps[len(gaps) - MAX_TEXT_EDITS + 1 :])
    merged = []
    for start, end in zip([0, *cuts], [*cuts, len(runs)], strict=True):
        first, last = runs[start], runs[end - 1]
        merged.append((first[0], last[1], first[2], last[3]))
    return merged


def _anchors(old: list[str], new: list[str]) -> list[tuple[int, int]]:
    """(old index, new index) of lines that occur once in each version: the longest chain
    of them in the same order in both (patience sorting, n log n)."""
    once_old = _once(old)
    once_new = _once(new)
    pairs = [(once_old[line], j) for line, j in once_new.items() if line in once_old]
    pairs.sort(key=lambda pair: pair[1])
    ends: list[int] = []  # ends[k]: old index ending the best chain of length k + 1
    ending: list[int] = []  # and which pair that is
    previous = [-1] * len(pairs)
    for n, (i, _) in enumerate(pairs):
        k = bisect_left(ends, i)
        previous[n] = ending[k - 1] if k else -1
        if k == len(ends):
            ends.append(i)
            ending.append(n)
        else:
            ends[k], ending[k] = i, n
    chain = []
    n = ending[-1] if ending else -1
    while n >= 0:
        chain.append(pairs[n])
        n = previous[n]
    return chain[::-1]


def _once(lines: list[str]) -> dict[str, int]:
    """The lines that occur exactly once, with their index."""
    where: dict[str, int] = {}
    repeated = set()
    for i, line in enumerate(lines):
        if line in where:
            repeated.add(line)
        where[line] = i
    for line in repeated:
        del where[line]
    return where


def _gap_runs(
    old: list[str], new: list[str], i1: int, i2: int, j1: int, j2: int
) -> list[tuple[int, int, int, int]]:
    """The changed runs between two anchors, old[i1:i2] against new[j1:j2]."""
    while i1 < i2 and j1 < j2 and old[i1] == new[j1]:
        i1, j1 = i1 + 1, j1 + 1
    while i1 < i2 and j1 < j2 and old[i2 - 1] == new[j2 - 1]:
        i2, j2 = i2 - 1, j2 - 1
    if i1 == i2 and j1 == j2:
        return []
    if i2 - i1 == j2 - j1:
        differing = [k for k in range(i2 - i1) if old[i1 + k] != new[j1 + k]]
        if len(differing) * 4 <= i2 - i1:
            return [(i1 + k, i1 + k + 1, j1 + k, j1 + k + 1) for k in differing]
    if min(i2 - i1, j2 - j1) <= 1 or (i2 - i1) * (j2 - j1) > MAX_GAP_PRODUCT:
        return [(i1, i2, j1, j2)]
    matcher = SequenceMatcher(None, old[i1:i2], new[j1:j2], autojunk=False)
    return [
        (i1 + a1, i1 + a2, j1 + b1, j1 + b2)
        for tag, a1, a2, b1, b2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix, by bisection: each step is one C-level
    comparison of slices, so even a megabyte-long line costs milliseconds."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def insert(nb: YNotebook, index: int, source: str, cell_type: str) -> str:
    """Insert a new cell at `index` (0..len); return its id."""
    cell_id = str(uuid4())
    nb.ycells.insert(index, _new_ycell(nb, cell_id, cell_type, source, {}))
    return cell_id


def _new_ycell(
    nb: YNotebook, cell_id: str, cell_type: str, source: str, metadata: dict[str, Any]
) -> Map:
    cell: dict[str, Any] = {
        "id": cell_id,
        "cell_type": cell_type,
        "source": source,
        "metadata": metadata,
    }
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    return nb.create_ycell(cell)


def cell_version(cell: dict[str, Any]) -> str:
    """An opaque string that changes whenever the cell's source, type, metadata, outputs or
    execution count change (the nbformat form of the cell, without its collaboration state)."""
    content = {k: v for k, v in cell.items() if k not in ("index", "version")}
    encoded = json.dumps(content, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.blake2b(encoded, digest_size=8).hexdigest()


def version(nb: YNotebook, index: int) -> str:
    """The version of the cell at `index`."""
    return cell_version(view(nb, index))


def check_version(nb: YNotebook, index: int, expected: str | None) -> None:
    """Refuse an edit made against a version of the cell that is no longer current."""
    if expected is None:
        return
    cell = view(nb, index)
    current = cell_version(cell)
    if current != expected:
        raise NotebookError(
            f"Cell {cell['id']} (index {index}) has changed since version {expected}; nothing "
            f"was changed. Its current version is {current} and its source is now:\n"
            f"{cell['source']}"
        )


def move(nb: YNotebook, index: int, to: int) -> None:
    """Move a cell to position `to` (0..len-1), keeping its id, source, metadata and outputs.

    One transaction of a delete and an insert of the same cell, as JupyterLab moves cells:
    Yjs clients know no move operation."""
    count = len(nb.ycells)
    if not 0 <= to < count:
        raise NotebookError(f"Target index {to} is out of range: use 0 to {count - 1}.")
    if to == index:
        return
    with nb.ydoc.transaction():
        cell = json.loads(str(nb.ycells[index]))
        del nb.ycells[index]
        nb.ycells.insert(to, nb.create_ycell(cell))


def replace(nb: YNotebook, index: int, old: str, new: str, replace_all: bool) -> int:
    """Replace the literal `old` by `new` in the cell's source, as a minimal text edit; the
    number of replacements. Refused unless `old` occurs exactly once, or `replace_all`."""
    if not old:
        raise NotebookError("'old' must not be empty.")
    ycell = nb.ycells[index]
    source = str(ycell["source"])
    count = source.count(old)
    if count == 0:
        raise NotebookError(
            f"'old' does not occur in cell {ycell['id']} (index {index}); nothing was changed. "
            "cell_get shows its source."
        )
    if count > 1 and not replace_all:
        raise NotebookError(
            f"'old' occurs {count} times in cell {ycell['id']} (index {index}); nothing was "
            "changed. Give more context to make it unique, or replace_all=true."
        )
    with nb.ydoc.transaction():
        edit_text(ycell["source"], source.replace(old, new))
    return count


def clear_outputs(nb: YNotebook, index: int) -> bool:
    """Clear a code cell's outputs and execution count, as JupyterLab does; whether it had
    any to clear."""
    ycell = nb.ycells[index]
    if ycell.get("cell_type") != "code":
        return False
    had = len(ycell["outputs"]) > 0 or ycell.get("execution_count") is not None
    if had:
        with nb.ydoc.transaction():
            ycell["outputs"].clear()
            ycell["execution_count"] = None
    return had


def matcher(query: str, regex: bool) -> Callable[[str], bool]:
    """Whether a line matches `query`: a literal, or a Python regular expression."""
    if not regex:
        return lambda line: query in line
    try:
        pattern = re.compile(query)
    except re.error as error:
        raise NotebookError(f"query is not a valid regular expression: {error}.") from None
    return lambda line: pattern.search(line) is not None


def search(cells: list[dict[str, Any]], match: Callable[[str], bool]) -> list[dict[str, Any]]:
    """The cells (nbformat) whose source has lines that `match`: [{index, cell_id,
    cell_type, lines: [{line, text}]}], lines numbered from 1."""
    found = []
    for i, cell in enumerate(cells):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        lines = [
            {"line": n, "text": text}
            for n, text in enumerate(source.splitlines(), start=1)
            if match(text)
        ]
        if lines:
            found.append(
                {"index": i, "cell_id": cell.get("id"), "cell_type": cell.get("cell_type"),
                 "lines": lines}
            )  # fmt: skip
    return found


def insert_position(nb: YNotebook, index: int | None, cell_id: str | None) -> int:
    """Where `cell_insert` puts a cell: at `index` (-1 or len appends), before `cell_id`, or
    at the end when neither is given."""
    count = len(nb.ycells)
    if index is not None and cell_id is not None:
        raise NotebookError("Give either 'index' or 'cell_id', not both.")
    if cell_id is not None:
        return locate(nb, None, cell_id)
    if index is None or index == -1:
        return count
    if not 0 <= index <= count:
        raise NotebookError(
            f"Insert index {index} is out of range: use 0 to {count}, or -1 to append."
        )
    return index


async def watch(current: Callable[[], Awaitable[YNotebook]], timeout: float) -> dict[str, Any]:
    """Wait for the first change to the cells or notebook metadata, up to `timeout` seconds.

    `current()` gives the notebook's live document; it is asked again every second, so that
    a watch follows the room if the collaboration extension deleted and re-created it.
    Subscribes with pycrdt directly: YNotebook.observe would drop every other observer of the
    document, the room's autosave among them.
    """
    changed = asyncio.Event()
    deadline = asyncio.get_running_loop().time() + timeout
    nb: YNotebook | None = None
    subscriptions: list[tuple[Any, Any]] = []
    try:
        while True:
            latest = await current()
            if latest is not nb:
                _unsubscribe(subscriptions)
                nb = latest
                targets = [nb.ycells, nb.ydoc.get("meta", type=Map)]
                subscriptions = [(t, t.observe_deep(lambda _: changed.set())) for t in targets]
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return {"changed": False}
            try:
                await asyncio.wait_for(changed.wait(), min(remaining, 1.0))
            except TimeoutError:
                continue
            return {"changed": True, "cell_count": len(nb.ycells)}
    finally:
        _unsubscribe(subscriptions)


def _unsubscribe(subscriptions: list[tuple[Any, Any]]) -> None:
    for target, subscription in subscriptions:
        target.unobserve(subscription)
    subscriptions.clear()
