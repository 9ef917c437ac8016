"""Static checks in CI (issue 15): bandit on the code, pip-audit on the lock, every waiver written with its reason.

bandit runs over include/ dags/ plugins/ spark_jobs/ bench/ at every severity and confidence with pyproject.toml's
[tool.bandit] (the project-wide skips, each with its reason there). A line's waiver is `# nosec BXXX  # reason`.
No finding may be left, and a known-bad file scanned beside the code must be caught, so the settings cannot
switch off the checks that matter.

pip-audit checks requirements.txt (pinned by uv, so --no-deps) against PyPI's JSON API, else OSV, ignoring the
waivers in .ci/audit-waivers.txt. Which service answers is found with one pin first (a second or so each).
Decision when neither answers: the test skips, and its reason ("could not audit requirements.txt: ...", with each
service's answer) is printed by every run (-ra). It does not fail, as this workplace's machines and CI reach the
package index but no vulnerability database (PyPI's per-version JSON is not served, OSV's host does not resolve):
failing would block every change while checking nothing. It does not pass either, since that would claim an audit
that never ran. Once a service answers, any unwaived vulnerability, or a pin it could not audit, fails.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tokenize
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("include", "dags", "plugins", "spark_jobs", "bench")
WAIVERS = ROOT / ".ci" / "audit-waivers.txt"
SERVICES = ("pypi", "osv")
NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)")
NOSEC_WITH_REASON = re.compile(r"\s+B\d{3}(,\s*B\d{3})*\s+#\s*\S.{3,}")

# what the settings must never let through, each with the test that has to catch it
CANARY = '''import subprocess
import urllib.request


def run(command: str, url: str):
    subprocess.call(command, shell=True)
    return urllib.request.urlopen(url)
'''
CANARY_CAUGHT = {"B602", "B310"}


def _bandit(*paths: str | Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "bandit", "-q", "-c", "pyproject.toml", "-f", "json", "-r", *map(str, paths)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip(), f"bandit printed no report (exit {out.returncode}):\n{out.stderr[-3000:]}"
    return json.loads(out.stdout)


def test_bandit_leaves_no_finding_in_the_code(tmp_path):
    canary = tmp_path / "canary.py"
    canary.write_text(CANARY)
    report = _bandit(*TARGETS, canary)
    assert report["errors"] == [], f"bandit could not scan: {report['errors']}"
    scanned = {Path(name).resolve() for name in report["metrics"] if name != "_totals"}
    for target in TARGETS:
        assert any((ROOT / target) in path.parents for path in scanned), f"bandit scanned nothing in {target}/"
    caught = {r["test_id"] for r in report["results"] if Path(r["filename"]).resolve() == canary}
    assert CANARY_CAUGHT <= caught, f"pyproject.toml's [tool.bandit] lets {CANARY_CAUGHT - caught} through"
    findings = [f"{r['filename']}:{r['line_number']} {r['test_id']} ({r['issue_severity']}/{r['issue_confidence']}) "
                f"{r['issue_text']}\n" + "\n".join(f"      {line}" for line in r["code"].rstrip().splitlines())
                for r in report["results"] if Path(r["filename"]).resolve() != canary]
    assert not findings, ("bandit findings (fix each, or waive it on its line with `# nosec BXXX  # reason`):\n"
                          + "\n".join(findings))


def test_every_bandit_waiver_gives_its_reason():
    bare = []
    for target in TARGETS:
        for path in sorted((ROOT / target).rglob("*.py")):
            with path.open("rb") as source:
                for token in tokenize.tokenize(source.readline):
                    nosec = NOSEC.search(token.string) if token.type == tokenize.COMMENT else None
                    if nosec and not NOSEC_WITH_REASON.match(nosec["rest"]):
                        bare.append(f"{path.relative_to(ROOT)}:{token.start[0]}: {token.string}")
    assert not bare, "a nosec names its test(s) and gives its reason, `# nosec BXXX  # reason`:\n" + "\n".join(bare)
    text = (ROOT / "pyproject.toml").read_text()
    for skip in tomllib.loads(text)["tool"]["bandit"].get("skips", []):
        assert re.search(rf'^\s*"{skip}",\s*#\s*\S', text, re.M), f"[tool.bandit] skips {skip} without a comment saying why"


def _waivers() -> dict[str, str]:
    """.ci/audit-waivers.txt: vulnerability ID -> why it is accepted."""
    waivers = {}
    for number, line in enumerate(WAIVERS.read_text().splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            vuln, _, reason = line.strip().partition(" ")
            assert reason.strip(), f"{WAIVERS.name}:{number}: {vuln} is waived without a reason"
            waivers[vuln] = reason.strip()
    return waivers


def _audit(requirements: Path, service: str, waivers: dict[str, str], out: Path) -> tuple[dict | None, str]:
    """pip-audit's JSON report of `requirements` by `service`, or None and why there is none."""
    out.unlink(missing_ok=True)
    ignored = [arg for vuln in waivers for arg in ("--ignore-vuln", vuln)]
    try:
        run = subprocess.run([sys.executable, "-m", "pip_audit", "-r", str(requirements), "--no-deps", "--disable-pip",
                              "--progress-spinner", "off", "--vulnerability-service", service, "-f", "json",
                              "-o", str(out), *ignored], cwd=ROOT, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, "no answer in 600 s"
    if out.exists() and out.read_text().strip():
        return json.loads(out.read_text()), ""
    lines = [line.strip() for line in run.stderr.splitlines() if line.strip()]
    return None, f"pip-audit exited {run.returncode}: {lines[-1] if lines else 'nothing on stderr'}"


def test_pip_audit_finds_no_unwaived_vulnerability_in_the_lock(tmp_path):
    waivers = _waivers()
    lock = ROOT / "requirements.txt"
    pin = next(line.split(";")[0].strip() for line in lock.read_text().splitlines() if "==" in line and line[0].isalnum())
    probe = tmp_path / "probe.txt"
    probe.write_text(pin + "\n")
    answers = {}
    for service in SERVICES:
        report, why = _audit(probe, service, waivers, tmp_path / f"{service}.json")
        if report is not None:
            (dep,) = report["dependencies"]
            why = dep.get("skip_reason", "")
        if not why:
            break
        answers[service] = why
    else:
        pytest.skip(f"could not audit requirements.txt: no vulnerability service answered for {pin}: "
                    + "; ".join(f"{service}: {why}" for service, why in answers.items()))
    report, why = _audit(lock, service, waivers, tmp_path / "lock.json")
    assert report is not None, f"{service} answered for {pin}, then not for the lock: {why}"
    found = [f"{d['name']}=={d['version']}: {v['id']} (aliases {', '.join(v.get('aliases', [])) or 'none'}; fixed in "
             f"{', '.join(v.get('fix_versions', [])) or 'no release yet'}) {v.get('description', '')[:200]}"
             for d in report["dependencies"] for v in d.get("vulns", [])]
    unaudited = [d["skip_reason"] for d in report["dependencies"] if "skip_reason" in d]
    assert len(report["dependencies"]) > 1, f"{service} audited {len(report['dependencies'])} pin(s) of the lock"
    assert not found and not unaudited, (
        f"pip-audit ({service}) on requirements.txt: upgrade the pin, or waive the ID in .ci/audit-waivers.txt "
        "with its reason\n" + "\n".join(found + [f"not audited: {why}" for why in unaudited]))
