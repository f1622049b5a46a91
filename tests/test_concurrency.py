"""Concurrent MCP clients editing one notebook lose and duplicate nothing."""

import asyncio

from .collab import Collaborator
from .conftest import call, client_for, eventually, read_notebook, write_notebook
from .servers import Server

CLIENTS, CELLS_EACH = 8, 25


async def test_eight_clients_inserting_at_once_lose_nothing(server: Server) -> None:
    path = write_notebook(server.root, ["seed"])

    async def agent(n: int) -> None:
        async with client_for(server) as client:
            for i in range(CELLS_EACH):
                await call(client, "cell_insert", path=path, source=f"agent {n} cell {i}")

    async with Collaborator(server, path) as ada:
        await asyncio.gather(*(agent(n) for n in range(CLIENTS)))
        async with client_for(server) as client:
            live = await call(client, "notebook_get", path=path, outputs="full")
        sources = [cell["source"] for cell in live["cells"]]
        expected = {f"agent {n} cell {i}" for n in range(CLIENTS) for i in range(CELLS_EACH)}
        assert len(sources) == 1 + CLIENTS * CELLS_EACH
        assert set(sources[1:]) == expected
        assert len({cell["id"] for cell in live["cells"]}) == len(sources)
        for n in range(CLIENTS):  # each client's cells keep their order
            own = [s for s in sources if s.startswith(f"agent {n} ")]
            assert own == [f"agent {n} cell {i}" for i in range(CELLS_EACH)]
        await eventually(lambda: ada.sources() == sources)
        for cell in live["cells"]:
            del cell["version"]  # not part of nbformat; the rest is the file's cell exactly
        await eventually(lambda: read_notebook(server.root, path)["cells"] == live["cells"])
