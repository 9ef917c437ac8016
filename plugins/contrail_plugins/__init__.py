"""Contrail's custom operators (plugins/ is on the Airflow components' sys.path)."""
