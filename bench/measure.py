"""Timing, and the two tables the benchmark prints: latencies (Row) and other figures, sizes
and memory (Figure), each next to its target."""

import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

NAME_WIDTH = 58


@dataclass
class Row:
    name: str
    lean: list[float]
    fastmcp: list[float] | None = None
    target: float | None = None  # ms, bounding the lean client's `on` figure
    server_cpu_ms: float | None = None  # server process CPU per request, lean client
    on: Literal["p50", "p95"] = "p50"
    basis: str = ""  # how a relative target was set, e.g. "3x warm p50"


@dataclass
class Figure:
    """A measure that is not a latency: the size of a result, the memory of a process."""

    name: str
    value: float
    unit: str
    target: float | None = None  # the most `value` may be
    note: str = ""


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p50(row: Row) -> float:
    return statistics.median(row.lean)


async def timed(n: int, action: Callable[[int], Awaitable[object]]) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        await action(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed_with_cpu(
    pid: int, n: int, action: Callable[[int], Awaitable[object]]
) -> tuple[list[float], float]:
    before = cpu_seconds(pid)
    samples = await timed(n, action)
    return samples, (cpu_seconds(pid) - before) * 1000 / n


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _amount(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_rows(rows: list[Row]) -> int:
    """Print the table of latencies; return how many targets were missed."""
    missed = 0
    print(f"{'':{NAME_WIDTH}} {'lean client':>17} {'server CPU':>11} {'FastMCP Client':>17}")
    print(
        f"{'measure':{NAME_WIDTH}} {'p50 ms':>8} {'p95 ms':>8} {'ms/request':>11} "
        f"{'p50 ms':>8} {'p95 ms':>8}  target"
    )
    for row in rows:
        figures = {"p50": p50(row), "p95": percentile(row.lean, 0.95)}
        line = f"{row.name:{NAME_WIDTH}} {figures['p50']:8.2f} {figures['p95']:8.2f}"
        line += f" {row.server_cpu_ms:11.2f}" if row.server_cpu_ms is not None else " " * 12
        if row.fastmcp:
            line += f" {statistics.median(row.fastmcp):8.2f} {percentile(row.fastmcp, 0.95):8.2f}"
        else:
            line += " " * 18
        if row.target is None:
            line += "  no target"
        else:
            ok = figures[row.on] <= row.target
            missed += not ok
            basis = f" ({row.basis})" if row.basis else ""
            line += f"  {row.on} <= {_number(row.target)} ms{basis}: {_verdict(ok)}"
        print(line)
    return missed


def print_figures(figures: list[Figure]) -> int:
    """Print the table of other figures; return how many targets were missed."""
    missed = 0
    print(f"{'measure':{NAME_WIDTH}} {'value':>17}  target")
    for figure in figures:
        line = f"{figure.name:{NAME_WIDTH}} {_amount(figure.value):>10} {figure.unit:6}"
        if figure.target is None:
            line += "  no target"
        else:
            ok = figure.value <= figure.target
            missed += not ok
            line += f"  <= {_amount(figure.target)} {figure.unit}: {_verdict(ok)}"
        if figure.note:
            line += f"  ({figure.note})"
        print(line)
    return missed
