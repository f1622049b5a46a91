"""Faults and soak: sixteen agents and a person editing one notebook for a minute, a kernel
killed mid-run, a person leaving while an agent edits, SIGTERM in every state of the server.

Every figure (operations, latencies, time to detect or exit, edits lost) is printed, so that
`pytest -q` shows it."""

import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastmcp import Client

from .collab import Collaborator
from .conftest import call, client_for, eventually, read_notebook, wire, write_notebook
from .servers import Server, running_server

WRITERS = 16
SOAK_SECONDS = float(
    os.environ.get("JUPYTER_MCP_SOAK_SECONDS") or (60 if os.environ.get("CI") == "true" else 15)
)
SLEEP = "import time; time.sleep(30)"
OWN_CELLS_AT_MOST = 40  # per writer, so that the notebook stays a realistic size

Cells = list[tuple[str, str]]  # (cell id, source) in notebook order


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print a figure so that it shows in the output whether pytest captures or not."""

    def show(line: str) -> None:
        with capsys.disabled():
            print(f"\n[faults] {line}", flush=True)

    return show


async def live_cells(mcp: Client, path: str) -> Cells:
    """The live notebook's cells, every one with its full source (notebook_get's exact
    nbformat form, where the tool also has a summary form)."""
    [tool] = [t for t in await mcp.list_tools() if t.name == "notebook_get"]
    exact = "outputs" in wire(tool)["inputSchema"].get("properties", {})
    nb = await call(mcp, "notebook_get", path=path, **({"outputs": "full"} if exact else {}))
    return [(cell["id"], cell["source"]) for cell in nb["cells"]]


def disk_cells(root: Path, path: str) -> Cells:
    return [(cell["id"], cell["source"]) for cell in read_notebook(root, path)["cells"]]


def person_cells(person: Collaborator) -> Cells:
    with person.doc.transaction():
        return [(str(cell["id"]), str(cell["source"])) for cell in person.notebook.ycells]


async def settled(read: Callable[[], Awaitable[Cells]], done: Callable[[Cells], bool]) -> Cells:
    """`read()` once `done` holds for it, or its last value after 30 s (then the figures
    computed from it show what is wrong)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            value = await read()
        except ValueError:  # a file met mid-save
            if time.monotonic() > deadline:
                raise
        else:
            if done(value) or time.monotonic() > deadline:
                return value
        await asyncio.sleep(0.2)


async def disk(root: Path, path: str) -> Cells:
    return disk_cells(root, path)


def exited(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie not yet reaped has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def kernel_processes(server: Server) -> list[int]:
    """The kernels this server started that still run: their command line names a
    connection file in the server's own runtime directory."""
    runtime = server.env["JUPYTER_RUNTIME_DIR"].encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if runtime in cmdline and not exited(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if values else 0.0


# --- soak -----------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the acknowledged edits say the notebook holds."""

    expected: dict[str, str] = field(default_factory=dict)  # cell id -> source, not deleted
    deleted: set[str] = field(default_factory=set)
    order: dict[str, list[str]] = field(default_factory=dict)  # writer -> its cells in order
    ops: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def tally(self, cells: Cells) -> dict[str, int]:
        """What `cells` lack or hold too much, against the acknowledged edits."""
        present = dict(cells)
        markers = Counter(source.split("\n", 1)[0] for _, source in cells)
        position = {cell_id: i for i, (cell_id, _) in enumerate(cells)}
        return {
            "lost": sum(cell_id not in present for cell_id in self.expected),
            "stale": sum(
                cell_id in present and present[cell_id] != source
                for cell_id, source in self.expected.items()
            ),
            "duplicated": sum(n - 1 for n in markers.values()),
            "resurrected": sum(cell_id in present for cell_id in self.deleted),
            "unknown": sum(
                cell_id not in self.expected and cell_id not in self.deleted for cell_id in present
            ),
            "misordered writers": sum(
                sorted(own, key=lambda c: position.get(c, -1)) != own for own in self.order.values()
            ),
        }


async def soak_writer(n: int, mcp: Client, path: str, ledger: Ledger, deadline: float) -> None:
    """Insert (at the end or the top), update and delete this writer's own cells, by id,
    until the deadline; every acknowledged edit goes into the ledger."""
    rng = random.Random(f"writer {n}")
    own = ledger.order.setdefault(f"w{n}", [])
    made = 0
    while time.monotonic() < deadline:
        choice = rng.random()
        start = time.monotonic()
        if not own or (choice < 0.4 and len(own) < OWN_CELLS_AT_MOST):
            source = f"w{n} c{made}"
            made += 1
            top = rng.random() < 0.2
            result = await call(
                mcp, "cell_insert", path=path, source=source, **({"index": 0} if top else {})
            )
            own.insert(0 if top else len(own), result["cell_id"])
            ledger.expected[result["cell_id"]] = source
            kind = "insert"
        elif choice < 0.8:
            cell_id = rng.choice(own)
            marker = ledger.expected[cell_id].split("\n", 1)[0]
            source = f"{marker}\n# version {rng.randrange(10**6)}\nx = {rng.randrange(100)}"
            result = await call(mcp, "cell_update", path=path, cell_id=cell_id, source=source)
            assert result["cell_id"] == cell_id
            ledger.expected[cell_id] = source
            kind = "update"
        else:
            cell_id = own.pop(rng.randrange(len(own)))
            result = await call(mcp, "cell_delete", path=path, cell_id=cell_id)
            assert result["cell_id"] == cell_id
            del ledger.expected[cell_id]
            ledger.deleted.add(cell_id)
            kind = "delete"
        ledger.latencies.append(time.monotonic() - start)
        ledger.ops[kind] += 1


async def soak_person(person: Collaborator, ledger: Ledger, stop: asyncio.Event) -> None:
    """Insert cells anywhere, type into and delete the person's own cells, ten times a
    second, in the person's copy of the document (the websocket carries the changes)."""
    rng = random.Random("person")
    own: list[str] = []
    made = 0
    while not stop.is_set():
        await asyncio.sleep(0.1)
        ycells = person.notebook.ycells
        choice = rng.random()
        with person.doc.transaction():
            if not own or (choice < 0.4 and len(own) < OWN_CELLS_AT_MOST):
                cell_id, source = f"person-{made}", f"person c{made}"
                made += 1
                cell = {"id": cell_id, "cell_type": "code", "source": source, "metadata": {}}
                ycells.insert(rng.randint(0, len(ycells)), person.notebook.create_ycell(cell))
                own.append(cell_id)
                ledger.expected[cell_id] = source
                ledger.ops["person insert"] += 1
                continue
            cell_id = rng.choice(own)
            index = next(i for i, c in enumerate(ycells) if c["id"] == cell_id)
            if choice < 0.85:
                text = ycells[index]["source"]  # bound first: see pycrdt's Text
                typed = f"\n# typed {rng.randrange(10**6)}"
                text += typed
                ledger.expected[cell_id] += typed
                ledger.ops["person edit"] += 1
            else:
                del ycells[index]
                own.remove(cell_id)
                del ledger.expected[cell_id]
                ledger.deleted.add(cell_id)
                ledger.ops["person delete"] += 1


async def test_soak_sixteen_writers_and_a_person_lose_and_duplicate_nothing(
    server: Server, report: Callable[[str], None]
) -> None:
    path = write_notebook(server.root, ["seed"])
    ledger = Ledger(expected=dict(disk_cells(server.root, path)))
    async with AsyncExitStack() as stack:
        clients = await asyncio.gather(
            *(stack.enter_async_context(client_for(server)) for _ in range(WRITERS))
        )
        person = await stack.enter_async_context(Collaborator(server, path))
        stop = asyncio.Event()
        typing = asyncio.create_task(soak_person(person, ledger, stop))
        start = time.monotonic()
        try:
            async with asyncio.TaskGroup() as writers:
                for n, mcp in enumerate(clients):
                    writers.create_task(soak_writer(n, mcp, path, ledger, start + SOAK_SECONDS))
        finally:
            stop.set()
            await typing
        elapsed = time.monotonic() - start
        mcp = clients[0]
        live = await settled(
            lambda: live_cells(mcp, path), lambda c: not any(ledger.tally(c).values())
        )

        async def view() -> Cells:
            return person_cells(person)

        seen = await settled(view, lambda c: c == live)
        saved = await settled(lambda: disk(server.root, path), lambda c: c == live)

    writes = sum(n for kind, n in ledger.ops.items() if not kind.startswith("person"))
    live_tally = ledger.tally(live)
    report(
        f"soak: {WRITERS} MCP writers + 1 person for {elapsed:.1f} s: {writes} MCP edits "
        f"({ledger.ops['insert']} inserts, {ledger.ops['update']} updates, "
        f"{ledger.ops['delete']} deletes) = {writes / elapsed:.1f} ops/s; latency "
        f"p50 {percentile(ledger.latencies, 50) * 1000:.0f} ms, "
        f"p95 {percentile(ledger.latencies, 95) * 1000:.0f} ms, "
        f"max {max(ledger.latencies) * 1000:.0f} ms; person: "
        f"{ledger.ops['person insert']} inserts, {ledger.ops['person edit']} edits, "
        f"{ledger.ops['person delete']} deletes; final cells {len(live)}"
    )
    report(
        f"soak: live {live_tally}; person's view equal: {seen == live}; "
        f"file equal: {saved == live} (file {ledger.tally(saved)})"
    )
    stale = {
        cell_id: {"expected": source, "live": dict(live).get(cell_id),
                  "person": dict(seen).get(cell_id)}
        for cell_id, source in ledger.expected.items()
        if dict(live).get(cell_id, source) != source
    }  # fmt: skip
    present = dict(live)
    lost = [c for c in ledger.expected if c not in present]
    back = [c for c in ledger.deleted if c in present]
    if stale or lost or back:  # what a failure needs to be understood: whose cells
        report(f"soak: stale cells {json.dumps(dict(list(stale.items())[:5]), indent=1)}")
        report(f"soak: lost {lost[:10]}, resurrected {back[:10]}")
    assert writes > 0 and ledger.ops["person insert"] > 0
    assert live_tally == dict.fromkeys(live_tally, 0)
    assert len(live) == len(ledger.expected)
    assert seen == live
    assert saved == live


# --- a kernel killed mid-run ----------------------------------------------------------------


async def test_a_killed_kernel_ends_the_run_as_died_and_the_next_run_works(
    server: Server, shut_down_kernels: None, report: Callable[[str], None]
) -> None:
    path = write_notebook(server.root, ["import os; os.getpid()", SLEEP])
    async with client_for(server) as mcp:
        first = await call(mcp, "cell_execute", path=path, index=0)
        pid = int(first["outputs"][0]["data"]["text/plain"])
        started = await call(mcp, "cell_execute", path=path, index=1, wait=False)
        execution_id = started["execution_id"]

        async def running() -> bool:
            progress = await call(mcp, "execution_wait", execution_id=execution_id, timeout=0)
            return progress["status"] == "running"

        await eventually(running, timeout=20)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        ended = await call(mcp, "execution_wait", execution_id=execution_id, timeout=10)
        detected = time.monotonic() - killed
        report(
            f"kernel killed mid-run: the run reported {ended['status']!r} {detected:.2f} s after"
        )
        assert ended["status"] == "died", ended
        assert ended["error"]["ename"] == "DeadKernel"
        assert detected < 2
        assert await mcp.ping()
        async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as http:
            assert (await http.get("api")).status_code == 200

        await call(mcp, "cell_update", path=path, index=0, source="6 * 7")
        after = await call(mcp, "cell_execute", path=path, index=0)
        assert after["status"] == "ok", after
        assert after["outputs"][0]["data"]["text/plain"] == "42"


# --- the person leaves while the agent edits -----------------------------------------------


class Agent:
    """An MCP client's stream of edits to one notebook, with the cells its acknowledged edits
    say the notebook holds: it inserts at the end, updates and deletes its own cells."""

    def __init__(self, mcp: Client, path: str, cells: Cells) -> None:
        self.mcp = mcp
        self.path = path
        self.cells = list(cells)
        self.own: list[str] = []
        self.acknowledged = 0
        self.rng = random.Random(path)

    async def edit(self) -> None:
        n = self.acknowledged
        if self.own and n % 3 == 1:
            cell_id = self.rng.choice(self.own)
            source = f"agent edit {n}\n(updated)"
            await call(self.mcp, "cell_update", path=self.path, cell_id=cell_id, source=source)
            i = next(i for i, (c, _) in enumerate(self.cells) if c == cell_id)
            self.cells[i] = (cell_id, source)
        elif self.own and n % 7 == 5:
            cell_id = self.own.pop(self.rng.randrange(len(self.own)))
            await call(self.mcp, "cell_delete", path=self.path, cell_id=cell_id)
            self.cells = [cell for cell in self.cells if cell[0] != cell_id]
        else:
            source = f"agent edit {n}"
            result = await call(self.mcp, "cell_insert", path=self.path, source=source)
            self.own.append(result["cell_id"])
            self.cells.append((result["cell_id"], source))
        self.acknowledged += 1

    async def edits(self, count: int) -> None:
        for _ in range(count):
            await self.edit()


def lost_on_disk(expected: Cells, saved: Cells) -> tuple[int, int]:
    """(acknowledged cells missing or stale on disk, cells on disk that should not be)."""
    return len(set(expected) - set(saved)), len(set(saved) - set(expected))


async def test_edits_while_the_person_leaves_are_all_on_disk(
    tmp_path: Path, report: Callable[[str], None]
) -> None:
    with running_server(tmp_path, "--YDocExtension.document_cleanup_delay=1") as server:
        path = write_notebook(server.root, ["start"])
        async with client_for(server) as mcp:
            agent = Agent(mcp, path, disk_cells(server.root, path))

            # The person leaves while the edits go on.
            stream = asyncio.create_task(agent.edits(60))
            async with Collaborator(server, path):
                await eventually(lambda: agent.acknowledged >= 20 or stream.done(), timeout=60)
            left_at = agent.acknowledged
            await stream

            # The person leaves and the agent pauses: the room is deleted, then edits go on.
            async with Collaborator(server, path):
                await agent.edits(20)
            before_deletion = agent.acknowledged

            async def room_deleted() -> bool:
                return not [r for r in await call(mcp, "room_list") if r["path"] == path]

            await eventually(room_deleted, timeout=15)
            await agent.edits(20)

            saved = await settled(lambda: disk(server.root, path), lambda c: c == agent.cells)
    lost, extra = lost_on_disk(agent.cells, saved)
    report(
        f"person leaves mid-stream: {agent.acknowledged} agent edits, {60 - left_at} of them "
        f"after the person left mid-stream (at edit {left_at}), "
        f"{agent.acknowledged - before_deletion} after the room was deleted; "
        f"lost on disk {lost}, extra on disk {extra}"
    )
    assert (lost, extra) == (0, 0)
    assert saved == agent.cells


# --- SIGTERM in each state ------------------------------------------------------------------


async def kernel_pid(mcp: Client, path: str) -> int:
    result = await call(mcp, "cell_execute", path=path, index=0)
    return int(result["outputs"][0]["data"]["text/plain"])


@pytest.mark.parametrize(
    "state", ["collaborator connected", "cell running", "kernel restarting", "edits just made"]
)
async def test_sigterm_exits_promptly_with_every_acknowledged_edit_on_disk(
    tmp_path: Path, report: Callable[[str], None], state: str
) -> None:
    with running_server(tmp_path) as server:
        path = write_notebook(server.root, ["import os; os.getpid()", SLEEP])
        async with client_for(server) as mcp, AsyncExitStack() as stack:
            agent = Agent(mcp, path, disk_cells(server.root, path))
            pending: asyncio.Task | None = None
            if state == "collaborator connected":
                await stack.enter_async_context(Collaborator(server, path))
            elif state == "cell running":
                await kernel_pid(mcp, path)
                started = await call(mcp, "cell_execute", path=path, index=1, wait=False)

                async def running() -> bool:
                    progress = await call(
                        mcp, "execution_wait", execution_id=started["execution_id"], timeout=0
                    )
                    return progress["status"] == "running"

                await eventually(running, timeout=20)
            elif state == "kernel restarting":
                old = await kernel_pid(mcp, path)
            await agent.edits(8)
            if state == "kernel restarting":
                # The restart takes a few tenths of a second: the SIGTERM comes when the old
                # kernel has gone and the call has not answered yet.
                pending = asyncio.create_task(call(mcp, "kernel_restart", path=path))
                await eventually(lambda: exited(old), timeout=20, interval=0.002)
                assert not pending.done(), "the restart ended before the SIGTERM"
            start = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            # Waiting in a thread keeps the collaborator's websocket answering meanwhile.
            try:
                await asyncio.to_thread(server.process.wait, 10)
            except subprocess.TimeoutExpired:  # hung: the assertion below says so
                server.process.kill()
                await asyncio.to_thread(server.process.wait, 10)
            stopped = time.monotonic() - start
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
        left = kernel_processes(server)
        for pid in left:  # the test's own kernels: leave none behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    saved = disk_cells(server.root, path)
    lost, extra = lost_on_disk(agent.cells, saved)
    report(
        f"SIGTERM with {state}: exited in {stopped:.2f} s (code {server.process.returncode}); "
        f"{agent.acknowledged} acknowledged edits, lost on disk {lost}, extra {extra}; "
        f"kernels left running {len(left)}"
    )
    assert server.process.returncode is not None
    assert stopped < 5
    assert (lost, extra) == (0, 0)
    assert saved == agent.cells
    assert left == []
