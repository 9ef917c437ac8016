"""The shape of every step that runs somewhere: the same task ids and dependencies on every profile.

A step is a TaskGroup whose first task, `plan`, calls the profile module's request builders with the
run's data days: settings are checked and the cost estimated against the budget before anything
starts, and every slot after it gets its part of the plan. Results come back through the lake: the
task after a step reads what the job wrote there, the same on every profile.

    <spark job>    plan > start_cluster > submit_job > await_job > stop_cluster (teardown of start_cluster)
    train          plan > submit_training > await_training, plan > submit_tuning > await_tuning; > register
    mirror_model   plan > register_version
    serve          plan > deploy_endpoint > await_endpoint > smoke_test
    landing        wait_for_drop > convert_drops
"""

from __future__ import annotations

from airflow.sdk import TaskGroup, XComArg, chain, task

from contrail import platforms

SPARK_SLOTS = ("start_cluster", "submit_job", "await_job", "stop_cluster")
TRAINING_SLOTS = ("submit_training", "await_training", "submit_tuning", "await_tuning")
MIRROR_SLOTS = ("register_version",)
SERVING_SLOTS = ("deploy_endpoint", "await_endpoint")


def _slots(made: dict, names: tuple[str, ...], impl) -> list:
    missing = [n for n in names if n not in made]
    if missing:
        raise TypeError(f"platform {impl.NAME} built no operator for slot(s) {', '.join(missing)}")
    return [made[n] for n in names]


def _read_plan(plan, slots: list) -> None:
    """Every slot reads the plan: give the edge to those whose operator takes no XCom of it (EmptyOperators),
    in one call (each dependency call hashes the DAG, and with it the assets of its schedule)."""
    operators = [s.operator if isinstance(s, XComArg) else s for s in slots]  # a @task's call: its operator's XComArg
    missing = [op for op in operators if plan.operator.task_id not in op.upstream_task_ids]
    if missing:
        plan.operator.set_downstream(missing)


def checked(plan: dict, what: str) -> dict:
    """Log a plan's cost and refuse it over budget (BudgetExceeded, like ConfigError, fails the task at once:
    a retry cannot change either)."""
    from contrail import metrics
    from contrail.platforms import cost

    cost.guard(plan["cost"], what, cost.budget())
    print(cost.summary(plan["cost"], what))
    metrics.gauge("cost.estimate_usd", plan["cost"].get("usd", 0.0))
    return plan


def spark_step(job: str, days):
    """spark_jobs/<job>.py over `days` (an XComArg of YYYY-MM-DD strings) on the profile's Spark."""
    impl = platforms.module()

    @task(task_id="plan", multiple_outputs=True)
    def plan_job(days: list[str], *, dag_run, params) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from contrail.platforms import jobs, naming
        from contrail.scoring import NoChampion

        try:
            argv = jobs.arguments(job, days, params)
        except NoChampion as exc:
            raise AirflowSkipException(str(exc)) from None
        names = naming.Names.of(dag_run, job, days)
        what = f"{job} over {len(days)} day(s) {names.span}"
        return checked({"days": days, "collect": None, **impl.plan_spark(job, argv, names)}, what)

    with TaskGroup(group_id=job, tooltip=f"spark_jobs/{job}.py on the {impl.NAME} platform") as group:
        plan = plan_job(days)
        start, submit, wait, stop = _slots(impl.spark_operators(job, plan), SPARK_SLOTS, impl)
        _read_plan(plan, [start, submit, wait, stop])
        chain(start, submit, wait, stop)
        stop.as_teardown(setups=start)
    return group


def training_step(split):
    """Train (or tune) on the window `split` (an XComArg of resolve_window) and register the model; returns
    the registered candidate (an XComArg) for the promotion."""
    impl = platforms.module()

    @task(task_id="plan", multiple_outputs=True)
    def plan_training(split: dict, *, dag_run, params) -> dict:
        from contrail.training import tasks

        return checked(tasks.plan(split, params, dag_run, impl), f"training on {split['train'][0]}..{split['holdout'][-1]}")

    @task(task_id="register", trigger_rule="none_failed_min_one_success")
    def register(request: dict) -> dict:
        from contrail.training import tasks

        return tasks.register(request, impl)

    with TaskGroup(group_id="train", tooltip=f"the training job on the {impl.NAME} platform, registered in MLflow"):
        plan = plan_training(split)
        slots = _slots(impl.training_operators(plan), TRAINING_SLOTS, impl)
        submit_training, await_training, submit_tuning, await_tuning = slots
        _read_plan(plan, slots)
        submit_training >> await_training
        submit_tuning >> await_tuning
        candidate = register(plan["register"])
        candidate.operator.set_upstream([await_training, await_tuning])
    return candidate


def mirror_step(candidate, decided):
    """After the promotion decision (`decided`, the promotion task): mirror the version into the cloud's registry,
    its approval following the gate."""
    impl = platforms.module()

    @task(task_id="plan", multiple_outputs=True, trigger_rule="none_failed_min_one_success")
    def plan_mirror(candidate: dict, *, dag_run) -> dict:
        from contrail.platforms import naming
        from contrail.registry import promotion

        decision = promotion.decision_of(candidate["model"], candidate["version"])
        names = naming.Names.of(dag_run, "mirror_model", candidate["window"].split(".."))
        return checked(impl.plan_mirror(candidate, decision, names), f"mirroring v{candidate['version']}")

    with TaskGroup(group_id="mirror_model", tooltip=f"the registry mirror on the {impl.NAME} platform"):
        plan = plan_mirror(candidate)
        decided >> plan
        (register_version,) = _slots(impl.mirror_operators(plan), MIRROR_SLOTS, impl)
        _read_plan(plan, [register_version])


def serving_step():
    """Serve the champion online (when CONTRAIL_SERVING is on) and check it with a smoke request."""
    impl = platforms.module()

    @task(task_id="plan", multiple_outputs=True)
    def plan_serving(*, dag_run) -> dict:
        from contrail import serving

        return checked(serving.plan(dag_run, impl), "serving the champion")

    @task(task_id="smoke_test")
    def smoke_test(request: dict) -> dict:
        from contrail import serving

        return serving.smoke_test(request, impl)

    with TaskGroup(group_id="serve", tooltip=f"the champion's endpoint on the {impl.NAME} platform"):
        plan = plan_serving()
        deploy, wait = _slots(impl.serving_operators(plan), SERVING_SLOTS, impl)
        _read_plan(plan, [deploy, wait])
        chain(deploy, wait, smoke_test(plan["smoke"]))


def landing_steps():
    """The landing watcher's sensor and the optional managed conversion of a drop, in run order."""
    from contrail.platforms.landing import drop_sensor

    return [drop_sensor("wait_for_drop"), platforms.module().convert_drops_operator()]


def housekeeping_tasks():
    """Storage tiers for old raw data, and stopping what ended runs left running."""
    impl = platforms.module()

    @task
    def apply_lake_policy() -> str:
        done = impl.apply_lake_policy()
        print(done)
        return done

    @task
    def reap_orphans(*, ti) -> list[str]:
        stopped = impl.reap(ti.get_dagrun_state)
        for line in stopped:
            print(f"stopped: {line}")
        return stopped

    return [apply_lake_policy(), reap_orphans()]
