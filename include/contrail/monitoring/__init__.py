"""Monitoring: drift statistics, per-day monitoring, drift reports and retraining requests."""
