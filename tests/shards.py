"""`make test`: the whole suite as two pytest sessions side by side, each with its own PostgreSQL, Spark Connect
server, Airflow home and ports (tests/conftest.py), so that one waits on a scheduler, a server or a peer while the
other computes. On 2 cores the suite is mostly CPU-bound, so the gain is modest: 27:50 for the two sessions against
32:55 for one, measured beside other test runs on the same machine (README, Tests).

Shard "deployment" holds the tests that start whole deployments or servers (the production shape and its browser
test, which share one; the registry on three stores; the fault suite, whose table is printed once); shard "pipeline"
holds every other file, new ones included. Each session's output goes to a log shown when it ends; the exit code is
the worse of the two. Arguments are passed to both sessions (e.g. `-m "not slow"`).

    .venv/bin/python tests/shards.py [pytest arguments]
    .venv/bin/python -m pytest [...]          # one session, as before
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENT = ["tests/test_prod.py", "tests/test_prod_browser.py", "tests/test_registry.py", "tests/faults"]
SHARDS = {"deployment": (DEPLOYMENT, "15112"),
          "pipeline": (["tests", *(f"--ignore={path}" for path in DEPLOYMENT)], "15113")}
HEARTBEAT_S = 60


def main(args: list[str]) -> int:
    work = Path(tempfile.mkdtemp(prefix="contrail-shards-"))
    running, started = {}, time.monotonic()
    for name, (paths, spark_port) in SHARDS.items():
        log = open(work / f"{name}.log", "w")
        env = {**os.environ, "CONTRAIL_TEST_SPARK_PORT": spark_port}
        command = [sys.executable, "-m", "pytest", *paths, f"--basetemp={work / name}", *args]
        running[name] = (subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log)
        print(f"[{name}] {' '.join(command[1:])}  (log: {work / name}.log)", flush=True)
    codes, last = {}, time.monotonic()
    while len(codes) < len(running):
        time.sleep(2)
        for name, (proc, log) in running.items():
            if name not in codes and proc.poll() is not None:
                codes[name] = proc.returncode
                log.close()
                print(f"\n========== [{name}] ended with exit code {proc.returncode} after "
                      f"{time.monotonic() - started:.0f} s ==========", flush=True)
                sys.stdout.write((work / f"{name}.log").read_text(errors="replace"))
                sys.stdout.flush()
        if time.monotonic() - last >= HEARTBEAT_S:
            last = time.monotonic()
            waiting = ", ".join(n for n in running if n not in codes)
            print(f"[shards] {time.monotonic() - started:.0f} s: still running {waiting}", flush=True)
    print(f"[shards] done in {time.monotonic() - started:.0f} s: " + ", ".join(f"{n} exit {c}" for n, c in codes.items()))
    return max(codes.values(), key=abs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
