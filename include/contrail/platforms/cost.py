"""What a cluster or a job is estimated to cost, from a price table, and the budget guard.

An estimate is instance type x count x hours x (1 - spot discount on spot capacity), plus a
service's per-instance fee where it has one (EMR's uplift is charged in full on spot nodes too).
The default table holds list prices in USD per instance-hour (us-east-1, on demand) for the
instance types the settings default to (us-central1's for Google Cloud, East US's for Azure); `CONTRAIL_PRICES` (a JSON object, or the path of a JSON
file) overrides or extends it, keyed `<section>:<instance type>`, e.g. `"ec2:m5.xlarge": 0.192`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from contrail.config import ConfigError
from contrail.failures import Deterministic

DEFAULT_PRICES = {
    "ec2:m5.xlarge": 0.192, "ec2:m5.2xlarge": 0.384, "ec2:m5.4xlarge": 0.768,
    "ec2:r5.xlarge": 0.252, "ec2:r5.2xlarge": 0.504, "ec2:c5.2xlarge": 0.34,
    "emr:m5.xlarge": 0.048, "emr:m5.2xlarge": 0.096, "emr:m5.4xlarge": 0.192,
    "emr:r5.xlarge": 0.063, "emr:r5.2xlarge": 0.126, "emr:c5.2xlarge": 0.085,
    "sagemaker:ml.m5.large": 0.115, "sagemaker:ml.m5.xlarge": 0.23, "sagemaker:ml.m5.2xlarge": 0.461,
    "sagemaker:ml.c5.xlarge": 0.204, "sagemaker:ml.c5.2xlarge": 0.408,
    # EMR Serverless bills vCPU-hours and GB-hours; an "instance" here is one worker of the job's size
    "emr-serverless:vcpu": 0.052624, "emr-serverless:gb": 0.0057785,
    # Google Cloud (us-central1): Compute Engine VMs, Dataproc's fee of $0.01 per vCPU-hour on top, Vertex AI
    # training machines, Dataproc Serverless's data compute units (one per core)
    "gce:n2-standard-2": 0.097118, "gce:n2-standard-4": 0.194236, "gce:n2-standard-8": 0.388472,
    "dataproc:n2-standard-2": 0.02, "dataproc:n2-standard-4": 0.04, "dataproc:n2-standard-8": 0.08,
    "vertex:n2-standard-4": 0.2234, "vertex:n2-standard-8": 0.4468, "dataproc-serverless:dcu": 0.06,
    # Azure (East US, Linux pay-as-you-go): the VMs, HDInsight's per-node surcharge on top, Azure ML compute
    "azure-vm:Standard_E4_v3": 0.252, "azure-vm:Standard_E8_v3": 0.504, "azure-vm:Standard_E16_v3": 1.008,
    "hdinsight:Standard_E4_v3": 0.064, "hdinsight:Standard_E8_v3": 0.128, "hdinsight:Standard_E16_v3": 0.256,
    "azureml:Standard_DS3_v2": 0.229, "azureml:Standard_D4s_v3": 0.192,
}
DEFAULT_SPOT_DISCOUNT = 0.6  # spot capacity typically costs 30-40 % of on demand; say 40 %


class BudgetExceeded(Deterministic, RuntimeError):
    """An estimate is over the budget; nothing was started."""


@dataclass(frozen=True)
class Line:
    what: str
    instance: str
    count: float
    hours: float
    spot: bool = False
    base: str = "ec2"  # price section of the capacity itself (discounted when spot)
    uplift: str | None = None  # a service's per-instance fee on top, never discounted


def prices(environ=None) -> dict[str, float]:
    """The default table overlaid with CONTRAIL_PRICES (inline JSON or a JSON file)."""
    raw = (environ if environ is not None else os.environ).get("CONTRAIL_PRICES", "").strip()
    if not raw:
        return dict(DEFAULT_PRICES)
    try:
        extra = json.loads(raw if raw.startswith("{") else Path(raw).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"CONTRAIL_PRICES must be a JSON object or a JSON file's path: {exc}") from exc
    return {**DEFAULT_PRICES, **{str(k): float(v) for k, v in extra.items()}}


def spot_discount(environ=None) -> float:
    raw = (environ if environ is not None else os.environ).get("CONTRAIL_SPOT_DISCOUNT", str(DEFAULT_SPOT_DISCOUNT))
    value = float(raw)
    if not 0 <= value < 1:
        raise ConfigError(f"CONTRAIL_SPOT_DISCOUNT={raw}: the share spot capacity saves, between 0 and 1")
    return value


def _price(table: dict, key: str) -> float:
    if key not in table:
        raise ConfigError(f"no price for {key!r} in the price table: add it to CONTRAIL_PRICES "
                          f"(e.g. CONTRAIL_PRICES='{{\"{key}\": 0.25}}', USD per hour)")
    return table[key]


def estimate(lines: list[Line], table: dict[str, float], discount: float) -> dict:
    """The estimate of `lines` in USD, with each line's share (what the log and the asset events show)."""
    out, total = [], 0.0
    for line in lines:
        rate = _price(table, f"{line.base}:{line.instance}") * ((1 - discount) if line.spot else 1.0)
        if line.uplift:
            rate += _price(table, f"{line.uplift}:{line.instance}")
        usd = rate * line.count * line.hours
        total += usd
        out.append({"what": line.what, "instance": line.instance, "count": line.count, "hours": line.hours,
                    "spot": line.spot, "usd_per_hour": round(rate, 6), "usd": round(usd, 4)})
    return {"usd": round(total, 4), "lines": out, "spot_discount": discount}


def free(what: str) -> dict:
    """The estimate of work that runs on the machine itself (the local profile)."""
    return {"usd": 0.0, "lines": [{"what": what, "instance": "local", "count": 1, "hours": 0, "spot": False,
                                   "usd_per_hour": 0.0, "usd": 0.0}], "spot_discount": 0.0}


def budget(environ=None) -> float | None:
    """CONTRAIL_BUDGET_USD: the most one cluster or job may be estimated to cost (unset: no limit)."""
    raw = (environ if environ is not None else os.environ).get("CONTRAIL_BUDGET_USD", "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"CONTRAIL_BUDGET_USD={raw!r}: a number of US dollars, e.g. 5") from None
    if value < 0:
        raise ConfigError(f"CONTRAIL_BUDGET_USD={raw!r} is negative")
    return value


def guard(figures: dict, what: str, limit: float | None) -> None:
    """Refuse, before anything starts, an estimate over `limit`."""
    if limit is not None and figures["usd"] > limit:
        parts = "; ".join(f"{l['what']}: {l['count']:g} x {l['instance']} x {l['hours']:g} h = ${l['usd']:.2f}"
                          for l in figures["lines"])
        raise BudgetExceeded(f"the estimated cost of {what}, ${figures['usd']:.2f} ({parts}), exceeds the budget "
                             f"${limit:.2f} (CONTRAIL_BUDGET_USD); nothing was started. Raise the budget, or choose "
                             "fewer, smaller or spot instances")


def summary(figures: dict, what: str) -> str:
    if not figures["lines"]:
        return f"estimated cost of {what}: $0.00 (no compute billed)"
    return f"estimated cost of {what}: ${figures['usd']:.2f} (" + "; ".join(
        f"{l['what']} {l['count']:g} x {l['instance']}{' spot' if l['spot'] else ''} x {l['hours']:g} h"
        for l in figures["lines"]) + ")"
