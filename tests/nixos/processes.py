# Shared by the VM test scripts (prepended to each): reading processes that may come and go.


def process_status(machine, list_pids: str) -> dict[str, str]:
    """`/proc/<pid>/status` of every process that the shell command `list_pids` prints and
    that is still alive when read, by pid. Kernels and their helpers exit at any time; one
    that is gone between the listing and the reading is skipped, not a failure (the driver
    runs commands under `set -euo pipefail`, so the guard is in the command)."""
    output = machine.succeed(
        f"for pid in $({list_pids}); do"
        ' sed "s/^/$pid /" "/proc/$pid/status" 2>/dev/null || true;'
        " done"
    )
    status: dict[str, str] = {}
    for line in output.splitlines():
        pid, _, field = line.partition(" ")
        status[pid] = status.get(pid, "") + field + "\n"
    return status
