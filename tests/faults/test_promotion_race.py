"""Scenario 6 of the fault suite: a promotion race.

A handful of versions of different quality are registered once per store. Then, round after round, the
champion is put back on a weak version and several promoters, each a process of its own (its own lock
connection or lock file handle, as Airflow tasks are), are released at once by a barrier. After each round:

* the champion is the best version of the round that passes the gate, and `previous` the one it replaced;
* the ledger holds exactly one decision per promoter: none lost, none twice, its sequence unbroken;
* the decisions form one chain (each judged against the champion the one before it left), and each is the
  gate's decision, taken alone, for that version against that champion: none was promoted over a better one;
* the promotion lock was held by one promoter at a time, and promoters did find it taken (a real race).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import time

import pytest

from contrail.registry import gate, ledger, locks, promotion, tracking
from contrail.training import run, window
from test_registry import aliases, backend, name, version_tags, windows  # noqa: F401  (fixtures)

ROUNDS = 6
PROMOTERS = (3, 4)  # how many race in a round, drawn per round
STORE_VARIABLES = ("MLFLOW_TRACKING_URI", "CONTRAIL_PROMOTION_LOCK_URL")  # what `backend` sets, sent with each task
WAIT_S = 300  # at the barrier or for results: a dead worker fails the test instead of hanging it


def figures(name: str, version: str, holdout) -> tuple[dict, dict]:
    """A version's holdout metrics and slice ROC AUC on `holdout`, scored as a promotion scores it."""
    return promotion.score(name, version, holdout, float(version_tags(name, version)["contrail.threshold"]))


def holdout_of(name: str, version: str):
    return window.load(version_tags(name, version)["contrail.holdout_days"].split(","))


def _timed_lock(held: list):
    """locks.promotion_lock, noting (asked, got, released) of each hold in monotonic time (system-wide on Linux)."""
    real = locks.promotion_lock

    @contextlib.contextmanager
    def promotion_lock(model, timeout_s=600):
        asked = time.monotonic()
        with real(model, timeout_s):
            got = time.monotonic()
            try:
                yield
            finally:
                held.append((asked, got, time.monotonic()))  # inside the real hold: an overlap here is a real one

    return promotion_lock


def _promoter(tasks, results, barrier) -> None:
    """A worker process. Tasks: ("warm", store, name, version) scores a version once (imports, the store, model
    loading) and says "ready"; ("race", ...) waits at the barrier, then promotes; ("idle", ...) only waits."""
    # the longest part of a cold start, while the test trains its versions: MLflow, and Airflow (for its log masker)
    import airflow.sdk.log  # noqa: F401
    import mlflow.pyfunc  # noqa: F401

    held: list = []
    locks.promotion_lock = _timed_lock(held)  # promotion.promote takes it as locks.promotion_lock
    while (task := tasks.get()) != "stop":
        kind, store, name, version = task
        for key, value in store.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        try:
            if kind == "warm":
                figures(name, version, holdout_of(name, version))
                results.put(("ready", None, None, []))
                continue
            barrier.wait(WAIT_S)
            if kind == "race":
                held.clear()
                results.put((version, promotion.promote(name, version)["promoted"], None, list(held)))
        except Exception as exc:  # reported to the test, which fails naming it
            results.put((version, None, f"{type(exc).__name__}: {exc}", list(held)))


class Promoters:
    """Worker processes behind one barrier; spawned, so none inherits this process's MLflow clients or connections."""

    def __init__(self, count: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.barrier = ctx.Barrier(count + 1)  # the workers and this process
        self.results = ctx.Queue()
        self.tasks = [ctx.Queue() for _ in range(count)]
        self.procs = [ctx.Process(target=_promoter, args=(q, self.results, self.barrier), daemon=True) for q in self.tasks]
        for proc in self.procs:
            proc.start()

    def _send(self, worker: int, kind: str, name: str, version: str | None) -> None:
        self.tasks[worker].put((kind, {key: os.environ.get(key) for key in STORE_VARIABLES}, name, version))

    def warm(self, name: str, version: str) -> None:
        """Every worker on this test's store, having scored `version` once."""
        for worker in range(len(self.procs)):
            self._send(worker, "warm", name, version)
        replies = [self.results.get(timeout=WAIT_S) for _ in self.procs]
        assert [r[0] for r in replies] == ["ready"] * len(self.procs), replies

    def race(self, name: str, versions: list[str], rng: random.Random) -> list[tuple]:
        """Promote `versions` at once, on workers drawn at random; (version, promoted, error, lock holds) of each."""
        workers = rng.sample(range(len(self.procs)), len(self.procs))
        for i, worker in enumerate(workers):
            self._send(worker, "race" if i < len(versions) else "idle", name, versions[i] if i < len(versions) else None)
        self.barrier.wait(WAIT_S)
        return [self.results.get(timeout=WAIT_S) for _ in versions]

    def stop(self) -> None:
        for q in self.tasks:
            q.put("stop")
        for proc in self.procs:
            proc.join(60)
            if proc.is_alive():
                proc.terminate()
                proc.join(10)


@pytest.fixture(scope="module")
def promoters():
    """Started once for the module (a cold worker takes long to import MLflow and Airflow), on each test's store."""
    workers = Promoters(max(PROMOTERS))
    yield workers
    workers.stop()


@pytest.fixture
def versions(windows, name):
    """The versions by label: a weak champion, one below the gate's minimum, and three of rising quality."""
    mixed = window.split(windows["hour"].train[:3] + windows["full"].days[3:])  # half the full signal: in between
    splits = {"weak": windows["none"], "chance": windows["none"], "hour": windows["hour"], "mixed": mixed,
              "full": windows["full"]}
    return {label: run.train(split, model_name=name, seed=14 if label == "chance" else 13)["version"]
            for label, split in splits.items()}


def gate_table(name: str, versions: dict) -> dict[tuple[str, str], bool]:
    """(challenger, champion) -> whether the gate promotes the challenger, both scored on the challenger's holdout."""
    cfg = gate.GateConfig.from_env()
    table = {}
    for challenger in set(versions.values()) - {versions["weak"]}:
        holdout = holdout_of(name, challenger)
        scored = {v: figures(name, v, holdout) for v in versions.values()}
        for champion in set(versions.values()) - {challenger}:
            decision = gate.decide(scored[challenger][0], scored[champion][0], cfg, scored[challenger][1], scored[champion][1])
            table[challenger, champion] = decision.promote
    return table


def ladder(table: dict, weak: str, challengers: set[str]) -> list[str]:
    """The weak version, then the challengers that pass the gate, worst first. For every set of them to have one
    best, each must beat every worse one and lose to every better one (else the order of arrival decides)."""
    passing = sorted((v for v in challengers if table[v, weak]), key=lambda v: sum(table[v, o] for o in challengers - {v}))
    for v in challengers - set(passing):
        assert not any(table[v, o] for o in {weak} | challengers - {v}), f"v{v} fails against the weak champion only: {table}"
    for i, worse in enumerate(passing):
        for better in passing[i + 1:]:
            assert table[better, worse] and not table[worse, better], f"the gate does not order v{worse}, v{better}: {table}"
    return [weak, *passing]


def check_round(name, entrants, results, events, first_seq, table, rank) -> tuple[int, int]:
    """Assert one round's outcome (the champion was reset to the weak version, rank 0); return (lost, duplicated)."""
    assert not [r for r in results if r[2]], results  # no promoter failed
    decided = [e["version"] for e in events]
    lost = sum(v not in decided for v in entrants)
    duplicates = len(decided) - len(set(decided)) + len(set(decided) - set(entrants))
    if lost or duplicates:
        return lost, duplicates
    assert [e["seq"] for e in events] == list(range(first_seq, first_seq + len(events))), events
    champion = weak = min(rank, key=rank.get)
    for e in events:  # one chain, each decision the gate's own for that version against that champion
        assert e["champion_before"] == champion, (e, events)
        promote = table[e["version"], champion]
        assert (e["action"], e["champion_after"]) == (("promoted", e["version"]) if promote else ("refused", champion)), e
        assert e["action"] != "promoted" or rank[e["version"]] > rank[champion], e  # never over a better champion
        champion = e["champion_after"]
    best = max([weak, *entrants], key=lambda v: rank.get(v, -1))
    promoted = [e for e in events if e["action"] == "promoted"]
    assert champion == best and aliases(name) == {"champion": best, "previous": promoted[-1]["champion_before"]}, events
    assert {r[0]: r[1] for r in results} == {e["version"]: e["action"] == "promoted" for e in events}
    return 0, 0


def check_exclusive(holds: list[tuple]) -> int:
    """Assert no two holds of the lock overlapped; return how many promoters asked for it while another held it."""
    holds = sorted(holds, key=lambda h: h[1])
    for earlier, later in zip(holds, holds[1:]):
        assert later[1] >= earlier[2], f"two promoters held the lock at once: {earlier} and {later}"
    return sum(any(o is not h and o[1] <= h[0] < o[2] for o in holds) for h in holds)


@pytest.mark.parametrize("backend", ["server", "database"], indirect=True)  # production's lock and the default's; SQLite's: tests/test_registry.py
def test_concurrent_promotions_end_on_the_best_gated_version(versions, name, promoters, fault_report):
    weak = versions["weak"]
    challengers = set(versions.values()) - {weak}
    table = gate_table(name, versions)
    rank = {v: i for i, v in enumerate(ladder(table, weak, challengers))}
    assert len(rank) == 4, f"the hour, mixed and full versions should pass the gate, in one order: {rank} of {versions}"
    promoters.warm(name, weak)
    client, seed = tracking.client(), random.randrange(2**32)
    rng, waited, started = random.Random(seed), 0, time.monotonic()
    for _ in range(ROUNDS):
        client.set_registered_model_alias(name, promotion.CHAMPION, weak)
        client.set_registered_model_alias(name, promotion.PREVIOUS, versions["chance"])  # never a real `previous`
        entrants = rng.sample(sorted(challengers), rng.choice(PROMOTERS))
        first_seq = len(ledger.history(name)) + 1
        results = promoters.race(name, entrants, rng)
        events = ledger.history(name)[first_seq - 1:]
        lost, duplicates = check_round(name, entrants, results, events, first_seq, table, rank)
        fault_report.add("6 promotion race", faults=len(entrants), cases=1, rows=len(events), lost=lost, duplicates=duplicates)
        waited += check_exclusive([hold for r in results for hold in r[3]])
    print(f"promotion race: {ROUNDS} rounds in {time.monotonic() - started:.1f} s, {waited} promoters waited (seed {seed})")
    assert waited > 0, f"no promoter ever found the lock taken in {ROUNDS} rounds: nothing raced (seed {seed})"
