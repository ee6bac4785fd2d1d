"""How many intra-op threads torch gets: the cores that are free now, never more.

torch's OpenMP threads wait for each other at the end of every parallel operation, so one thread
whose core another process is using stalls them all: on this 2-core machine, with one core busy
elsewhere, 10 teacher steps on torch's own 2 threads took 38 s against 0.64 s on one thread.
A core counts as free when the 1-minute load average leaves it so; an OMP_NUM_THREADS the user
set is kept as it is.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def free_cores() -> int:
    """The usable cores less the 1-minute load average (rounded), at least 1."""
    cores = usable_cores()
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, cores - round(busy)))


def user_set_threads() -> bool:
    return bool(os.environ.get("OMP_NUM_THREADS", "").strip())


def threads_beside_a_window() -> int:
    """Every core but one (the window's), and no more than are free."""
    return max(1, min(usable_cores() - 1, free_cores()))


def headless_threads(torch_choice: int) -> int:
    """A command with no window: torch's own choice (every core, or OMP_NUM_THREADS), less the
    cores other processes keep busy unless the user set OMP_NUM_THREADS."""
    if user_set_threads():
        return torch_choice
    return max(1, min(torch_choice, free_cores()))
