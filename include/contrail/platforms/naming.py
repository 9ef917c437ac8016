"""Names and tags of cloud resources, derived from the DAG id, the step, the run and its data days.

A retried task runs under the same run id, so it derives the same names and finds what its first
try started (a cluster, a step, a training job) instead of starting a second one; another run of
the same days gets other names, so it never reuses an old run's results. Never a timestamp.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

TAG_PREFIX = "contrail:"
ENDED = ("success", "failed")


@dataclass(frozen=True)
class Names:
    dag_id: str
    step: str
    run_id: str
    days: tuple[str, ...]

    @classmethod
    def of(cls, dag_run, step: str, days) -> "Names":
        return cls(dag_run.dag_id, step, dag_run.run_id, tuple(sorted(days)))

    @property
    def digest(self) -> str:
        """8 hex digits identifying (DAG, step, run, days)."""
        text = "\n".join([self.dag_id, self.step, self.run_id, *self.days])
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    @property
    def span(self) -> str:
        """The data days as YYYYMMDD or YYYYMMDD-YYYYMMDD (what a person reading the console wants to see)."""
        if not self.days:
            return "nodays"
        first, last = (d.replace("-", "") for d in (self.days[0], self.days[-1]))
        return first if first == last else f"{first}-{last}"

    def resource(self, kind: str = "", max_len: int = 63) -> str:
        """`contrail-<step>[-<kind>]-<span>-<digest>`: letters, digits and hyphens, at most `max_len`
        characters (SageMaker allows 63 for a training job, 32 for a tuning job). When it is too long
        the step goes first, then the span shortens to MMDD, then goes; the digest always stays."""
        clean = lambda text: re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")  # noqa: E731
        heads = [clean(f"contrail-{self.step}" + (f"-{kind}" if kind else "")), clean(f"contrail-{kind or self.step}")]
        short = "-".join(d[5:].replace("-", "") for d in dict.fromkeys((self.days[0], self.days[-1]))) if self.days else ""
        tails = [f"-{self.span}-{self.digest}", f"-{short}-{self.digest}" if short else None, f"-{self.digest}"]
        for tail in filter(None, tails):
            for head in heads:
                if len(head) + len(tail) <= max_len:
                    return head + tail
        return (heads[-1][: max_len - len(tails[-1])].rstrip("-") + tails[-1])[-max_len:]

    def tags(self) -> dict[str, str]:
        """What the reaper reads back to find the run a resource belongs to."""
        span = f"{self.days[0]}..{self.days[-1]}" if self.days else ""
        return {f"{TAG_PREFIX}dag_id": self.dag_id, f"{TAG_PREFIX}run_id": self.run_id,
                f"{TAG_PREFIX}step": self.step, f"{TAG_PREFIX}days": span}


def run_of(tags: dict[str, str]) -> tuple[str, str] | None:
    """(dag_id, run_id) of a resource's tags, or None when Contrail did not start it."""
    dag_id, run_id = tags.get(f"{TAG_PREFIX}dag_id"), tags.get(f"{TAG_PREFIX}run_id")
    return (dag_id, run_id) if dag_id and run_id else None


def has_ended(run_state, tags: dict) -> str | None:
    """Why a resource is an orphan (its run ended, or no longer exists), or None while its run goes on
    or when Contrail did not start it."""
    run = run_of(tags)
    if run is None:
        return None
    try:
        state = run_state(*run)
    except Exception as exc:  # noqa: BLE001  (only a run that is gone is an orphan's proof; anything else: leave it)
        text = f"{exc} {getattr(exc, 'detail', '')}".lower()  # the API server's reason rides on .detail
        if "not found" in text or "not_found" in text:
            return f"its run {run[0]}/{run[1]} no longer exists"
        raise
    return f"its run {run[0]}/{run[1]} is {state}" if state in ENDED else None
