"""Background processes this project starts (the Spark Connect server, the local model server): are they
alive, and stop them."""

from __future__ import annotations

import os
import signal
import time


def alive(pid: int) -> bool:
    """Whether `pid` runs; a child of this process that exited is reaped here, or it would linger as a zombie."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(pid: int, wait: float = 30.0) -> bool:
    """SIGTERM the process group of `pid`, then SIGKILL after `wait` seconds; True if it was running."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
    alive(pid)
    return True
