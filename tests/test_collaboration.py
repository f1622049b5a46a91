"""MCP and a JupyterLab-style collaborator share one live document, both ways."""

import asyncio

from fastmcp import Client
from pycrdt import TextEvent

from .collab import Collaborator
from .conftest import call, disk_sources, eventually, write_notebook
from .servers import Server


async def test_every_spelling_of_a_path_is_one_room(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["x = 1"], "one-room.ipynb")
    (server.root / "sub").mkdir(exist_ok=True)
    async with Collaborator(server, path) as ada:
        spellings = [path, f"./{path}", f"sub/../{path}", str(server.root / path)]
        for i, spelling in enumerate(spellings):
            await call(mcp, "cell_insert", path=spelling, source=f"from spelling {i}")
        rows = [row for row in await call(mcp, "room_list") if row["path"] == path]
        assert len(rows) == 1
        assert rows[0]["user_count"] == 1
        assert rows[0]["file_id"] == ada.file_id
        await eventually(lambda: len(ada.sources()) == 5)


async def test_mcp_edits_reach_the_collaborator(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["first"])
    async with Collaborator(server, path) as ada:
        inserted = await call(mcp, "cell_insert", path=path, source="from the agent")
        await eventually(lambda: ada.sources() == ["first", "from the agent"])
        await call(mcp, "cell_update", path=path, cell_id=inserted["cell_id"], source="edited")
        await eventually(lambda: ada.sources() == ["first", "edited"])
        await call(mcp, "cell_delete", path=path, index=0)
        await eventually(lambda: ada.sources() == ["edited"])


async def test_collaborator_edits_reach_mcp_and_wake_a_watch(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["first"])
    async with Collaborator(server, path) as ada:
        watch = asyncio.create_task(call(mcp, "notebook_watch", path=path, timeout=20))
        await asyncio.sleep(0.5)
        assert not watch.done()
        ada.notebook.append_cell({"cell_type": "code", "source": "typed by Ada"})
        woke = await asyncio.wait_for(watch, 10)
        assert (woke["changed"], woke["cell_count"]) == (True, 2)
        [added] = woke["changes"]
        assert added["kind"] == "added" and added["index"] == 1
        assert added["by"] == {"name": "Ada", "display_name": "Ada", "is_mcp": False}
        nb = await call(mcp, "notebook_get", path=path)
        assert [cell["source"] for cell in nb["cells"]] == ["first", "typed by Ada"]


async def test_update_keeps_cell_id_and_edits_text_in_place(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["above", "def f(x):\n    return x + 1\n", "below"])
    async with Collaborator(server, path) as ada:
        ycell = ada.notebook.ycells[1]
        cell_id = ycell["id"]
        structural_changes: list = []
        text_deltas: list = []
        # Keep the subscriptions referenced: pycrdt drops a subscription that is collected.
        subscriptions = [
            ada.notebook.ycells.observe(lambda event: structural_changes.append(event.delta)),
            ycell["source"].observe(
                lambda event: (
                    text_deltas.append(event.delta) if isinstance(event, TextEvent) else None
                )
            ),
        ]
        result = await call(
            mcp, "cell_update", path=path, index=1, source="def f(x):\n    return x + 2\n"
        )
        assert result["cell_id"] == cell_id and result["index"] == 1
        await eventually(lambda: "x + 2" in ada.sources()[1])
        assert structural_changes == []  # the cell was not removed and re-added
        assert ada.notebook.ycells[1]["id"] == cell_id
        assert ada.sources() == ["above", "def f(x):\n    return x + 2\n", "below"]
        # A minimal edit: the shared prefix is retained, only the changed character replaced.
        assert text_deltas == [[{"retain": 25}, {"delete": 1}, {"insert": "2"}]]
        assert len(subscriptions) == 2


async def test_edits_reach_disk_after_a_watch_returned(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["one"])
    assert (await call(mcp, "notebook_watch", path=path, timeout=1))["changed"] is False
    await call(mcp, "cell_insert", path=path, source="after watch")
    await eventually(lambda: disk_sources(server.root, path) == ["one", "after watch"])
    async with Collaborator(server, path) as ada:
        watch = asyncio.create_task(call(mcp, "notebook_watch", path=path, timeout=20))
        await asyncio.sleep(0.3)
        ada.notebook.append_cell({"cell_type": "code", "source": "from Ada"})
        assert (await watch)["changed"]
        await call(mcp, "cell_insert", path=path, source="after second watch")
        await eventually(
            lambda: (
                disk_sources(server.root, path)
                == ["one", "after watch", "from Ada", "after second watch"]
            )
        )


async def test_presence_shows_the_agent_and_lists_the_collaborator(
    server: Server, mcp: Client
) -> None:
    path = write_notebook(server.root, ["x"])
    async with Collaborator(server, path, name="Grace") as grace:
        await call(mcp, "cell_insert", path=path, source="agent at work")
        await eventually(lambda: any(u["name"] == "jupyter" for u in grace.remote_users()))
        users = await eventually(
            lambda: _named(call(mcp, "notebook_list_users", path=path), "Grace")
        )
        assert any(u["is_mcp"] and u["name"] == "jupyter" for u in users)


async def test_a_collaborator_joining_later_sees_the_agent(server: Server, mcp: Client) -> None:
    path = write_notebook(server.root, ["x"])
    await call(mcp, "cell_insert", path=path, source="agent first")
    async with Collaborator(server, path, name="Linus") as linus:
        await call(mcp, "cell_get", path=path, index=0)
        await eventually(lambda: any(u["name"] == "jupyter" for u in linus.remote_users()))


async def _named(users_call, name: str) -> list | None:
    users = await users_call
    return users if any(u.get("name") == name for u in users) else None


async def test_a_symlink_inside_the_root_reaches_the_room_jupyterlab_opened(
    server: Server, mcp: Client
) -> None:
    target = write_notebook(server.root, ["shared"], "linked-target.ipynb")
    (server.root / "linked-alias.ipynb").symlink_to(server.root / target)
    async with Collaborator(server, "linked-alias.ipynb") as ada:
        await call(mcp, "cell_insert", path="linked-alias.ipynb", source="through the link")
        await eventually(lambda: ada.sources() == ["shared", "through the link"])
        rows = [r for r in await call(mcp, "room_list") if r["file_id"] == ada.file_id]
        assert len(rows) == 1 and rows[0]["user_count"] == 1
