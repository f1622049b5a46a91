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


def numbered(tag: str, count: int) -> list[str]:
    return [f"{tag}{i:05d} = compute({i})\n" for i in range(count)]


def test_edit_text_of_a_long_cell_changed_all_over_is_exact_and_few_edits() -> None:
    # 20,000 lines, every other one changed, lines moved, others deleted: the patience diff
    # keeps it near linear and the edits are merged to a bounded number, whatever the change.
    old = numbered("a", 20000)
    rng = random.Random(3)
    variants = {
        "every other line": [line if i % 2 else "b" + line for i, line in enumerate(old)],
        "half deleted": old[1::2],
        "a line inserted every ten": [
            line + ("new\n" if i % 10 == 0 else "") for i, line in enumerate(old)
        ],
        "shuffled": rng.sample(old, len(old)),
    }
    for name, lines in variants.items():
        text, deltas = edited("".join(old), "".join(lines))
        assert text == "".join(lines), name
        [delta] = deltas  # one transaction
        assert sum("retain" not in op for op in delta) <= 2 * 16, name


def test_edit_text_of_a_long_cell_keeps_the_lines_it_did_not_change() -> None:
    old = numbered("a", 5000)
    new = [*old[:1000], "inserted\n", *old[1000:4000], *old[4001:]]
    text, [delta] = edited("".join(old), "".join(new))
    assert text == "".join(new)
    # Two edits: the inserted line and the deleted one; everything else is retained.
    assert [op for op in delta if "retain" not in op] == [
        {"insert": "inserted\n"},
        {"delete": len(old[4000])},
    ]
