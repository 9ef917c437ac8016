"""The Azure ML workspace of the azure profile's tests: the ARM peer (tests/azureml_peer.py) with a player that runs
each job it is given the way Azure ML would. Test code, not product code.

A command job is played from the body the SDK PUT: its `command` must be the training image's entry point
(`python -m contrail.training.job ...`); its `${{inputs.*}}` and `${{outputs.*}}` become the mounts Azure ML would
make, here paths into a local copy of the lake (tests/lake_copy.py), each `azureml://datastores/<ds>/paths/<p>` read
as `<the datastore's container URL>/<p>`; what the job wrote goes back into the lake, and the job ends Completed. When
the entry point raises, the job ends Failed with Azure ML's message and the traceback as its std_log.txt, which the
operator must show. A sweep job runs two trials (the search space's midpoints, then its lows; Azure ML's sampler
draws inside the same bounds), each under its own name with its parameters in the trial command, its output path's
`${{name}}` that name, and its metric read back from the MLflow run the trial logged it to.
"""

from __future__ import annotations

import math
import re
import shlex
import tempfile
import threading
import traceback

import lake_copy
from azureml_peer import AzureMLPeer

ENTRY = ["python", "-m", "contrail.training.job"]
DATASTORE = re.compile(r"^azureml://(?:subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/)?datastores/"
                       r"(?P<ds>[^/]+)/paths/(?P<path>.*)$", re.IGNORECASE)
FAILED = "Execution failed. User process 'python' exited with status code 1. Please check log file 'user_logs/std_log.txt'"


class AzureMLTwin(AzureMLPeer):
    """The peer whose jobs run: `datastores` maps a datastore name to its container's URL (abfs://C@ACCOUNT)."""

    def __init__(self, datastores: dict[str, str], **kwargs):
        super().__init__(**kwargs)
        self.datastores = datastores
        self.fail_training = False  # the next jobs find no features (the entry point fails, as it would)
        self.played: list[tuple[str, list[str]]] = []  # (job or trial name, argv) of every entry point run
        self.trial_metrics: dict[str, float] = {}  # trial name -> the metric it logged to its MLflow run

    def lake_url(self, uri: str) -> str:
        found = DATASTORE.match(uri)
        assert found and found["ds"] in self.datastores, f"{uri!r} is on no datastore of the workspace"
        return f"{self.datastores[found['ds']].rstrip('/')}/{found['path']}"

    def _put_job(self, call, name: str):
        answer = super()._put_job(call, name)
        properties = self.job(name)["properties"]
        threading.Thread(target=self._play, args=(name, properties), daemon=True, name=f"play-{name}").start()
        return answer

    def _play(self, name: str, properties: dict) -> None:
        try:
            if properties["jobType"] == "Sweep":
                self._sweep(name, properties)
            else:
                self._run(name, properties["command"], properties)
        except (Exception, SystemExit):  # noqa: BLE001  (the job's failure is Azure ML's to report)
            self.finish(name, "Failed", error=FAILED, log=traceback.format_exc())
            return
        self.finish(name, "Completed")

    def _run(self, name: str, command: str, properties: dict, environ: dict | None = None) -> None:
        """The entry point with the job's mounts on a copy of the lake."""
        from contrail.training import job as training_job

        urls = {f"inputs.{key}": self.lake_url(value["uri"]) for key, value in properties["inputs"].items()}
        urls |= {f"outputs.{key}": self.lake_url(value["uri"]).replace("${{name}}", name)
                 for key, value in properties["outputs"].items()}
        if self.fail_training:
            urls["inputs.features"] = urls["inputs.features"].replace("/features", "/no-features")
        refs = sorted(urls)
        mounts = {f"TWIN_MOUNT_{i}": urls[ref] for i, ref in enumerate(refs)}  # lake_copy makes env URLs local paths

        def entry(_argv, env):
            local = {ref: env[f"TWIN_MOUNT_{i}"] for i, ref in enumerate(refs)}
            argv = shlex.split(re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: local[m[1]], command))
            assert argv[:3] == ENTRY, argv
            self.played.append((name, argv[3:]))
            training_job.main(argv[3:], {"AZUREML_RUN_ID": name, **(environ or {})})

        lake_copy.on_copy(entry, [], mounts)

    def _sweep(self, name: str, properties: dict) -> None:
        """Two trials, each with its parameters substituted into the trial command, logging to its own MLflow run."""
        import mlflow

        from contrail.training.job import VERTEX_METRIC

        space = properties["searchSpace"]
        with tempfile.TemporaryDirectory(prefix="twin-mlflow-") as tmp:
            tracking = f"sqlite:///{tmp}/mlflow.db"  # the workspace's tracking server, here a file of its own
            client = mlflow.MlflowClient(tracking_uri=tracking)
            experiment = client.create_experiment(name)
            for number, pick in enumerate((lambda lo, hi: (lo + hi) / 2, lambda lo, hi: lo), start=1):
                params = {}
                for key, (kind, bounds) in space.items():
                    value = pick(bounds[0], bounds[1])
                    value = math.exp(value) if "log" in kind else value
                    params[key] = round(value) if kind.startswith("q") else value
                command = re.sub(r"\$\{\{\s*search_space\.(\w+)\s*\}\}", lambda m: str(params[m[1]]),
                                 properties["trial"]["command"])
                trial, run = f"{name}_{number}", client.create_run(experiment)
                self._run(trial, command, properties, {"MLFLOW_TRACKING_URI": tracking, "MLFLOW_RUN_ID": run.info.run_id})
                history = client.get_metric_history(run.info.run_id, VERTEX_METRIC)
                self.trial_metrics[trial] = history[-1].value if history else float("nan")
