"""The fault suite: each scenario injects its faults and records what it checked in one table.

`fault_report.add(...)` from a test adds a row; the table is printed at the end of the run (and kept in the
README), and a row that lost or duplicated a row fails its test, so the table can only show zeros there.
"""

from __future__ import annotations

import dataclasses

import pytest


@dataclasses.dataclass
class Row:
    scenario: str
    faults: int = 0
    cases: int = 0
    rows: int = 0
    lost: int = 0
    duplicates: int = 0


class Report:
    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def add(self, scenario: str, *, faults: int = 0, cases: int = 0, rows: int = 0, lost: int = 0, duplicates: int = 0) -> None:
        """Add one test's figures to its scenario's row; fail the calling test when anything was lost or duplicated."""
        row = self.rows.setdefault(scenario, Row(scenario))
        row.faults += faults
        row.cases += cases
        row.rows += rows
        row.lost += lost
        row.duplicates += duplicates
        assert lost == 0 and duplicates == 0, f"{scenario}: {lost} row(s) lost, {duplicates} duplicated"

    def table(self) -> str:
        head = ("scenario", "faults injected", "cases tried", "rows checked", "rows lost", "duplicates")
        body = [(r.scenario, r.faults, r.cases, r.rows, r.lost, r.duplicates) for r in sorted(self.rows.values(), key=_order)]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(f"{v:,}" if isinstance(v, int) else v for v in row) + " |" for row in body]
        return "\n".join(lines)


def _order(row: Row) -> tuple:
    number, _, rest = row.scenario.partition(" ")
    return (int(number), rest) if number.isdigit() else (10**6, row.scenario)


_REPORT = Report()


@pytest.fixture(scope="session")
def fault_report() -> Report:
    return _REPORT


def pytest_terminal_summary(terminalreporter) -> None:
    if _REPORT.rows:
        terminalreporter.section("fault suite")
        terminalreporter.write_line(_REPORT.table())
