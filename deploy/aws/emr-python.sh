#!/bin/bash
# EMR bootstrap action, run on every node before Spark starts: Python 3.11 and the pinned libraries
# Contrail's jobs need on the executors (mlflow.pyfunc.spark_udf loads the model there). Uploaded by
#   python -m contrail.platforms.aws.deploy --code-uri s3://BUCKET/PREFIX
# and named by the cluster request (contrail/platforms/aws/emr.py) with the code URI as its argument.
set -euo pipefail
CODE_URI="${1:?usage: emr-python.sh s3://bucket/prefix}"
sudo dnf install -y -q python3.11 python3.11-pip
aws s3 cp "$CODE_URI/bootstrap/requirements-cluster.txt" /tmp/contrail-requirements-cluster.txt
sudo python3.11 -m pip install --quiet --no-cache-dir -r /tmp/contrail-requirements-cluster.txt
python3.11 -c "import mlflow, lightgbm, sklearn, pyarrow; print('contrail bootstrap: mlflow', mlflow.__version__)"
