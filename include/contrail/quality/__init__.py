"""Data-quality gates: suites as code, validation on pandas or Spark, quarantine, verdicts, reports.

Importing this package is cheap; Great Expectations is imported only by the modules that run it.
"""
