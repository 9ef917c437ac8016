"""`make run`: the local pipeline over a range of 2013 days, through a real Airflow deployment.

Starts (or reuses) the embedded PostgreSQL, the Spark Connect server and Airflow's api-server,
scheduler, dag-processor and triggerer (LocalExecutor), backfills contrail_ingest over the range,
lets the data-aware contrail_features DAG follow, then training, inference and monitoring (each
data-aware), prints progress every 15 s while it waits for every run, then the outputs and the
model, and stops the Airflow components (PostgreSQL and Spark stay up for the next run and `make
ui`; `make stop` stops them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from contrail import localenv

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DAG_IDS = ("contrail_ingest", "contrail_features", "contrail_training", "contrail_inference", "contrail_monitoring")
# Which assets each data-aware DAG consumes: the pipeline has settled when each has run since its latest event.
CONSUMERS = {"contrail_training": ("features", "retrain_request"), "contrail_inference": ("features", "model_champion"),
             "contrail_monitoring": ("predictions",)}


class Deployment:
    """The Airflow components of this project, as child processes with their logs in the state dir."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.airflow = str(Path(sys.executable).parent / "airflow")
        self.logs = Path(env["CONTRAIL_STATE_DIR"]) / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.pidfile = Path(env["CONTRAIL_STATE_DIR"]) / "airflow.pids"

    def cli(self, *args: str, check: bool = True) -> str:
        out = subprocess.run([self.airflow, *args], env=self.env, capture_output=True, text=True)
        if check and out.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{out.stderr[-3000:]}")
        return out.stdout

    def start(self, extra: dict[str, list[str]] | None = None, components: tuple[str, ...] = COMPONENTS,
              env: dict[str, str] | None = None) -> None:
        """Start Airflow's `components` and the `extra` processes (name -> argv), beside any started before."""
        commands = {**{name: [self.airflow, name] for name in components}, **(extra or {})}
        for name, argv in commands.items():
            log = open(self.logs / f"{name}.log", "ab")
            self.procs[name] = subprocess.Popen(argv, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)
        pids = {"driver": os.getpid(), **{name: p.pid for name, p in self.procs.items()}}
        self.pidfile.write_text("".join(f"{name} {pid}\n" for name, pid in pids.items()))

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}; see {self.logs / (name + '.log')}")

    def until_interrupted(self) -> None:
        """Watch the processes until Ctrl-C (or SIGTERM, mapped to it); raise if one of them exits."""
        try:
            while True:
                self.check_alive()
                time.sleep(2)
        except KeyboardInterrupt:
            print("[contrail] stopping", flush=True)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)


def stop_leftovers(env: dict[str, str]) -> int:
    """`make stop`: ask a running driver to stop its deployment, or stop what a killed one left behind."""
    pidfile = Path(env["CONTRAIL_STATE_DIR"]) / "airflow.pids"
    if not pidfile.exists():
        return 0
    pids = dict(line.split() for line in pidfile.read_text().splitlines() if line.strip())
    driver = int(pids.pop("driver", 0))
    if driver and _signal(driver, signal.SIGTERM, group=False):
        deadline = time.monotonic() + 45
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
    if pidfile.exists():  # SIGTERM each process group, SIGKILL what still runs after 30 s
        from contrail import processes

        stopped = sum(processes.stop(int(pid)) for pid in pids.values())
    else:
        stopped = len(pids)
    pidfile.unlink(missing_ok=True)
    return stopped


def _signal(pid: int, sig: int, group: bool) -> bool:
    try:
        (os.killpg if group else os.kill)(pid, sig)
        return True
    except ProcessLookupError:
        return False


def healthy(url: str) -> bool:
    """Whether `url` answers 200 now."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # nosec B310  # the deployment's own http URL
            return response.status == 200
    except OSError:
        return False


def wait_for(what: str, ready, deployment: Deployment, timeout: float, report=None, every: float = 15) -> None:
    """Poll `ready` until it holds; call `report` (if any) at most `every` seconds apart meanwhile."""
    deadline = time.monotonic() + timeout
    reported = time.monotonic()
    while not ready():
        deployment.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; logs in {deployment.logs}")
        if report is not None and time.monotonic() - reported >= every:
            report()
            reported = time.monotonic()
        time.sleep(2)


def reporter(days: list[str], since: str, t0: float):
    """A progress printer for `wait_for`: the range's stages from the lake, the runs by state from Airflow."""
    from contrail import progress

    started = dt.datetime.fromisoformat(since)

    def report() -> None:
        runs: dict[str, int] = {}
        for states in run_states().values():
            for state, count in states.items():
                runs[state] = runs.get(state, 0) + count
        print(progress.line(progress.stage_days(days, started), len(days), runs, time.monotonic() - t0), flush=True)

    return report


def dags_parsed() -> bool:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        found = session.query(DagModel).filter(DagModel.dag_id.in_(DAG_IDS)).all()
        return len(found) == len(DAG_IDS) and not any(d.has_import_errors for d in found)


def runs_in_flight() -> int:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    with create_session() as session:
        return session.query(DagRun).filter(DagRun.dag_id.in_(DAG_IDS),
                                            DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING])).count()


def nightly_days() -> list[str]:
    """The 2013 days of contrail_ingest's scheduled (not backfill) runs: unpausing it starts the latest night."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType

    from contrail.dates import NoSourceData, data_date

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == "contrail_ingest", DagRun.run_type == DagRunType.SCHEDULED).all()
        logical = [r.logical_date or r.run_after for r in runs]
    days = []
    for when in logical:
        try:
            days.append(f"{data_date(when):%Y-%m-%d}")
        except NoSourceData:  # e.g. a 29 February: the run fails and the summary of runs shows it
            pass
    return sorted(set(days))


def run_states() -> dict[str, dict[str, int]]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    states: dict[str, dict[str, int]] = {}
    with create_session() as session:
        for dag_id, state in session.query(DagRun.dag_id, DagRun.state).filter(DagRun.dag_id.in_(DAG_IDS)):
            states.setdefault(dag_id, {}).setdefault(str(state), 0)
            states[dag_id][str(state)] += 1
    return states


def features_done(days: list[str], since: str) -> bool:
    """Every day was gated since `since` (ISO UTC) and then built and gated again or refused; no run is going."""
    from contrail.quality import ledger

    def settled(day: str) -> bool:
        raw = ledger.read_verdict("flights", day)
        if raw is None or raw["validated_at"] < since:
            return False
        return raw["status"] == "failed" or (ledger.read_verdict("features", day) or {}).get("validated_at", "") >= since

    return all(settled(d) for d in days) and all(caught_up(d, a) for d, a in CONSUMERS.items()) and runs_in_flight() == 0


def caught_up(dag_id: str, assets: tuple[str, ...]) -> bool:
    """`dag_id` has a run queued after the latest event of any of `assets` (or there is no such event)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        published = session.scalar(select(func.max(AssetEvent.timestamp)).join(
            AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.name.in_(assets)))
        queued = session.scalar(select(func.max(DagRun.queued_at)).where(DagRun.dag_id == dag_id))
    return published is None or (queued is not None and queued >= published)


def model_summary() -> str:
    """The champion of the delay model and the latest decision, from MLflow and the promotion ledger."""
    from contrail.registry import ledger, promotion, tracking

    client = tracking.client()
    champion = promotion.alias_version(client, "flights_delay", "champion")
    history = ledger.history("flights_delay")
    if champion is None and not history:
        return "Model:     none trained yet (training waits for 7 days of features that passed quality)"
    lines = []
    if champion is not None:
        tags = client.get_model_version("flights_delay", champion).tags
        lines.append(f"Model:     flights_delay v{champion} is champion: holdout ROC AUC "
                     f"{float(tags['contrail.holdout_roc_auc']):.4f} on {tags['contrail.holdout_days']}, "
                     f"trained on {tags['contrail.window']}")
    if history:
        last = history[-1]
        lines.append(f"           last decision: v{last['version']} {last['action']}: {'; '.join(last['reasons'])}")
    lines.append(f"MLflow:    {tracking.shown_uri()} (browse: `make ui`, then {os.environ.get('CONTRAIL_MLFLOW_UI_URL')})")
    return "\n".join(lines)


def summary(days: list[str], lake: Path) -> str:
    from contrail import scoring
    from contrail.features import published_counts
    from contrail.monitoring.monitor import read_figures
    from contrail.quality import degraded, ledger

    lines = [f"{'day':<12}{'quality':>9}{'landed':>8}{'quarantined':>12}{'features':>10}{'cancelled':>10}{'diverted':>10}"
             f"{'scored by':>11}{'max PSI':>9}"]
    for day in days:
        verdict = ledger.read_verdict("flights", day) or {"status": "-", "rows_in": 0, "rows_quarantined": 0}
        c = published_counts([day])[day] if (lake / "features_counts" / f"dt={day}").exists() else {}
        scored, drift = scoring.read_manifest(day), read_figures(day)
        version = f"v{scored['model_version']}" if scored else "-"
        psi = ("-" if not drift else "degr." if drift.get("degraded") else "in win." if drift.get("judged") is False
               else f"{drift['max_psi']:.2f}")
        status = "degraded" if verdict["status"] != "failed" and degraded.of(day) else verdict["status"]
        lines.append(f"{day:<12}{status:>9}{verdict['rows_in']:>8}{verdict['rows_quarantined']:>12}"
                     f"{c.get('features', '-'):>10}{c.get('cancelled', '-'):>10}{c.get('diverted', '-'):>10}"
                     f"{version:>11}{psi:>9}")
    return "\n".join(lines)


def mlflow_ui(env: dict[str, str]) -> dict[str, list[str]]:
    """`make ui`'s MLflow UI over the tracking store, at CONTRAIL_MLFLOW_UI_URL (none when MLflow is a server)."""
    from urllib.parse import urlsplit

    from contrail.registry import tracking

    store, url = env.get("MLFLOW_TRACKING_URI", ""), urlsplit(env.get("CONTRAIL_MLFLOW_UI_URL", ""))
    if not (url.port and tracking.database_store(store)):
        return {}
    mlflow = str(Path(sys.executable).parent / "mlflow")
    return {"mlflow-ui": [mlflow, "server", "--backend-store-uri", store, "--host", url.hostname or "127.0.0.1",
                          "--port", str(url.port), "--workers", "1"]}


def serve(deployment: Deployment, env: dict[str, str]) -> int:
    """Keep the deployment up until Ctrl-C (or SIGTERM), then stop it."""
    mlflow = f"; MLflow UI on {env['CONTRAIL_MLFLOW_UI_URL']}" if "mlflow-ui" in deployment.procs else ""
    print(f"[contrail] Airflow UI on http://127.0.0.1:{env['AIRFLOW__API__PORT']} (no login, local only){mlflow}; "
          f"run reports at /contrail/run/<dag>/<run>; logs in {deployment.logs}. Ctrl-C stops Airflow; "
          "`make stop` also stops PostgreSQL and Spark.", flush=True)
    try:
        deployment.until_interrupted()
    finally:
        deployment.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2013-05-01")
    parser.add_argument("--end", default="2013-05-14")
    parser.add_argument("--timeout", type=float, help="seconds to wait for the runs (default: 10 min + 1 min a day)")
    parser.add_argument("--ui", action="store_true",
                        help="only start Airflow (UI on 127.0.0.1:8080) and Spark; run until Ctrl-C")
    parser.add_argument("--stop", action="store_true", help="stop what an earlier run left running")
    args = parser.parse_args(argv)
    from contrail.runs import span

    try:  # checked before anything starts or touches the lake
        days = span(args.start, args.end)
    except ValueError as exc:
        parser.error(str(exc))

    env = {**os.environ, **localenv.apply()}
    from contrail import postgres

    if args.stop:
        print(f"[contrail] stopped {stop_leftovers(env)} Airflow component(s)")
        if postgres.needed(env):
            print(f"[contrail] PostgreSQL in {postgres.data_dir(env)} "
                  f"{'stopped' if postgres.stop(postgres.data_dir(env)) else 'was not running'}")
        return 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a killed driver still stops its children
    from contrail.spark import connect

    iso_days = [f"{d}" for d in days]
    timeout = args.timeout or 600 + 60 * len(days)
    lake = Path(env["CONTRAIL_DATA_ROOT"])
    if connect.is_up(int(env["AIRFLOW__API__PORT"])):
        sys.exit(f"port {env['AIRFLOW__API__PORT']} is busy: stop the other Airflow (make stop) or set AIRFLOW__API__PORT")

    t0 = time.monotonic()
    if postgres.needed(env):
        print(f"[contrail] PostgreSQL (embedded) in {postgres.start(postgres.data_dir(env))}", flush=True)
    print(f"[contrail] Airflow home {env['AIRFLOW_HOME']}; migrating the metadata database", flush=True)
    deployment = Deployment(env)
    deployment.cli("db", "migrate")
    from contrail.registry import tracking

    tracking.configure()  # MLflow creates its schema once, here, not in concurrent tasks
    print(f"[contrail] Spark Connect server at {connect.ensure_server()}", flush=True)
    deployment.start(mlflow_ui(env) if args.ui else None)
    if args.ui:  # say the UI is there once it answers
        wait_for("the api-server", lambda: healthy(f"{env['AIRFLOW__API__BASE_URL']}/api/v2/monitor/health"), deployment, 300)
        return serve(deployment, env)
    try:
        wait_for("the DAGs to be parsed", dags_parsed, deployment, 300,
                 report=lambda: print(f"[contrail] {time.monotonic() - t0:.0f} s elapsed, waiting for the dag-processor "
                                      f"to parse the {len(DAG_IDS)} DAGs", flush=True))
        since = dt.datetime.now(dt.timezone.utc).isoformat()
        for dag_id in DAG_IDS:
            deployment.cli("dags", "unpause", dag_id)
        print(f"[contrail] backfilling contrail_ingest {iso_days[0]} .. {iso_days[-1]}", flush=True)
        deployment.cli("backfill", "create", "--dag-id", "contrail_ingest", "--from-date", iso_days[0],
                       "--to-date", iso_days[-1], "--reprocess-behavior", "completed", "--max-active-runs", "4")
        time.sleep(5)
        wait_for("the ingest, feature, training, inference and monitoring runs",
                 lambda: features_done(sorted({*iso_days, *nightly_days()}), since), deployment, timeout,
                 report=reporter(iso_days, since, t0))
        states, nightly = run_states(), [d for d in nightly_days() if d not in iso_days]
    finally:
        deployment.stop()
    failed = {dag: s.get("failed", 0) for dag, s in states.items() if s.get("failed")}
    print(f"\n[contrail] done in {time.monotonic() - t0:.0f} s; DAG runs: {states}")
    print(summary(sorted({*iso_days, *nightly}), lake))
    if nightly:
        print(f"({', '.join(nightly)}: the scheduled nightly run of contrail_ingest, replayed onto 2013; unpausing a DAG "
              "starts its latest night only, never a catch-up. Training windows never bridge the gap to it.)")
    print(f"\nOutputs:   raw partitions   {lake}/raw/<table>/dt=YYYY-MM-DD/\n"
          f"           validated rows   {lake}/validated/<table>/dt=YYYY-MM-DD/ (quarantined: {lake}/quarantine/)\n"
          f"           features         {lake}/features/dt=YYYY-MM-DD/\n"
          f"           predictions      {lake}/predictions/dt=YYYY-MM-DD/\n"
          f"Reports:   quality          {lake}/reports/quality/docs/index.html (verdicts in {lake}/quality/)\n"
          f"           drift            {lake}/reports/drift/dt=YYYY-MM-DD/report.html\n"
          f"{model_summary()}\n"
          f"Logs:      {env['AIRFLOW_HOME']}/logs and {deployment.logs}\n"
          f"Airflow UI: run `make ui`, then open http://127.0.0.1:{env['AIRFLOW__API__PORT']}: each run's Contrail report "
          "tab links its quality and drift reports and MLflow runs (`make stop` stops PostgreSQL and Spark)")
    if failed:
        print(f"[contrail] FAILED runs: {failed}; open the UI to see their logs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
