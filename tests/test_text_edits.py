"""The minimal text edit that cell_update applies to a live cell's source."""

import random

from pycrdt import Doc, Text, TextEvent

from jupyter_mcp.cells import edit_text

ALPHABET = ["a", "b", "\n", " ", "é", "世", "😀", "\u0301"]


def edited(old: str, new: str) -> tuple[str, list]:
    doc = Doc()
    text = doc.get("source", type=Text)
    text += old
    deltas: list = []
    text.observe(lambda event: deltas.append(event.delta) if isinstance(event, TextEvent) else None)
    with doc.transaction():
        edit_text(text, new)
    return str(text), deltas


def test_edit_text_turns_any_text_into_any_other() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        old = "".join(rng.choices(ALPHABET, k=rng.randint(0, 40)))
        new = list(old)
        for _ in range(rng.randint(0, 4)):
            at = rng.randint(0, len(new))
            new[at : at + rng.randint(0, 3)] = rng.choices(ALPHABET, k=rng.randint(0, 3))
        assert edited(old, "".join(new))[0] == "".join(new), (old, new)


def test_edit_text_keeps_unchanged_lines_and_text_around_a_change() -> None:
    old = "import numpy as np\nx = np.arange(10)\ny = x ** 2\nprint(y)\n"
    new = "import numpy as np\nx = np.arange(20)\ny = x ** 2\nprint(y.sum())\n"
    text, deltas = edited(old, new)
    assert text == new
    # One transaction: "1" -> "2" inside line 2, and ".sum()" inserted inside line 4.
    assert deltas == [
        [{"retain": 33}, {"delete": 1}, {"insert": "2"}, {"retain": 21}, {"insert": ".sum()"}]
    ]


def test_edit_text_counts_positions_in_utf8_bytes() -> None:
    text, deltas = edited("名前 = 'é'\n", "名前 = 'è'\n")
    assert text == "名前 = 'è'\n"
    assert deltas == [[{"retain": 10}, {"delete": 2}, {"insert": "è"}]]


def test_edit_text_of_identical_text_changes_nothing() -> None:
    assert edited("same\n", "same\n") == ("same\n", [])
