"""Run a list of checks with Great Expectations on a pandas or a Spark DataFrame.

Importing this module imports Great Expectations (~14 s): only task callables do. Its loggers are
set to WARNING first, or GX floods the Airflow task log with hundreds of lines.
"""

from __future__ import annotations

import logging

logging.getLogger("great_expectations").setLevel(logging.WARNING)

from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from contrail.quality.checks import Check  # noqa: E402

ROW_ID = "_contrail_row"  # on Spark, rows are named by this column (Spark DataFrames have no index)
DOCS_SITE = "contrail"


@dataclass
class Outcome:
    """What one check found."""

    check: Check
    success: bool
    evaluated: bool  # False when GX could not run it (e.g. its column is missing)
    element_count: int | None
    unexpected_count: int
    bad_rows: list  # pandas index labels, or ROW_ID values on Spark; empty for table-level checks
    observed: object

    @property
    def bad_share(self) -> float:
        return self.unexpected_count / self.element_count if self.element_count else 0.0

    def message(self) -> str:
        c = self.check
        if c.expectation == "ExpectColumnToExist":
            return f"{c.name} on {c.column}: the column is missing"
        if not self.evaluated:
            return f"{c.name} on {c.column}: could not be evaluated (column missing or unreadable)"
        if c.row_level:
            return f"{c.name} on {c.column}: {self.unexpected_count} of {self.element_count} rows failed"
        expected = {k: v for k, v in c.kwargs.items() if k not in ("column", "column_list", "type_list")}
        detail = f", expected types {c.kwargs['type_list']}" if "type_list" in c.kwargs else f", expected {expected}"
        observed = f"observed {self.observed}" if self.observed is not None else f"{self.unexpected_count} rows failed"
        return f"{c.name} on {c.column}: {observed}{detail}"


class Validator:
    """One GX context: ephemeral, or a file project that keeps results and builds Data Docs."""

    def __init__(self, project_dir: Path | None = None, docs_dir: Path | None = None):
        if project_dir is None:
            self.ctx = gx.get_context(mode="ephemeral")
        else:
            self.ctx = gx.get_context(mode="file", project_root_dir=str(project_dir))
        self.ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.docs = docs_dir is not None and project_dir is not None
        if self.docs and DOCS_SITE not in (self.ctx.get_config().data_docs_sites or {}):
            self.ctx.add_data_docs_site(site_name=DOCS_SITE, site_config={
                "class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)}})

    def _batch(self, engine: str, asset_name: str):
        """The whole-DataFrame batch of `asset_name` on the engine's data source, created once per project."""
        sources = self.ctx.data_sources
        add_source = (lambda: sources.add_spark(name="spark", persist=False)) if engine == "spark" else (
            lambda: sources.add_pandas(name="pandas"))
        source = _get_or_add(lambda: sources.get(engine), add_source)
        asset = _get_or_add(lambda: source.get_asset(asset_name), lambda: source.add_dataframe_asset(name=asset_name))
        return _get_or_add(lambda: asset.get_batch_definition("whole"), lambda: asset.add_batch_definition_whole_dataframe("whole"))

    def run(self, suite_name: str, frame, checks: list[Check], engine: str, run_name: str):
        """Validate `frame`; return (outcomes, the GX result as a JSON dict, the Data Docs page URL or None).

        The suite is built in memory and validated on the batch directly: saving it to the context
        first (checkpoint and validation definition) cost GX ten times the validation itself.
        """
        result_format = {"result_format": "COMPLETE"}
        if engine == "spark":
            result_format["unexpected_index_column_names"] = [ROW_ID]
        expectations = []
        for i, check in enumerate(checks):
            expectation = getattr(gxe, check.expectation)(**check.kwargs, meta={"check": check.name, "index": i})
            expectation.severity = check.severity
            expectations.append(expectation)
        suite = gx.ExpectationSuite(name=f"{suite_name}-{engine}", expectations=expectations)
        batch = self._batch(engine, suite_name).get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format=result_format)
        docs_url = self._docs(result, suite.name, f"{engine}-{suite_name}", run_name) if self.docs else None
        columns = set(frame.columns)
        outcomes = [None] * len(checks)
        for item in result.results:
            index = item.expectation_config.meta["index"]
            outcomes[index] = _outcome(checks[index], item, engine, columns)
        return outcomes, result.to_json_dict(), docs_url

    def _docs(self, result, suite: str, batch: str, run_name: str) -> str | None:
        """Store the result and render its Data Docs page (and the site index); return the page's URL."""
        key = ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite),
                                         run_id=gx.RunIdentifier(run_name=run_name), batch_identifier=batch)
        self.ctx.validation_results_store.set(key, result)
        self.ctx.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=[key])
        urls = self.ctx.get_docs_sites_urls(resource_identifier=key, site_names=[DOCS_SITE])
        return urls[0]["site_url"] if urls else None


def _get_or_add(get, add):
    try:
        return get()
    except (KeyError, LookupError, ValueError):
        return add()


def _outcome(check: Check, item, engine: str, columns: set[str]) -> Outcome:
    res = item.result or {}
    raised = bool((item.exception_info or {}).get("raised_exception"))
    needs = [check.kwargs["column"]] if "column" in check.kwargs and check.expectation != "ExpectColumnToExist" else []
    evaluated = not raised and all(c in columns for c in [*needs, *check.kwargs.get("column_list", ())])
    evaluated = evaluated and (bool(res) or item.success or check.expectation == "ExpectColumnToExist")
    bad: list = []
    if check.row_level and evaluated:
        found = res.get("unexpected_index_list") or []
        bad = [row[ROW_ID] for row in found] if engine == "spark" else list(found)
    unexpected = int(res.get("unexpected_count") or len(bad))
    return Outcome(check, bool(item.success), evaluated, res.get("element_count"), unexpected, bad,
                   res.get("observed_value"))
