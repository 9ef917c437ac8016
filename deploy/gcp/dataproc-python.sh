#!/bin/bash
# Dataproc initialization action, run as root on every node before the cluster is ready: the pinned
# libraries Contrail's jobs need on the executors (mlflow.pyfunc.spark_udf loads the model there),
# installed into the image's own Python 3.11 (/opt/conda/default on 2.3 images, which Spark runs).
# Uploaded by
#   python -m contrail.platforms.gcp.deploy --code-uri gs://BUCKET/PREFIX
# and named by the cluster request (contrail/platforms/gcp/dataproc.py), which puts the code URI in
# the VMs' metadata as contrail-code-uri.
set -euo pipefail
CODE_URI="$(/usr/share/google/get_metadata_value attributes/contrail-code-uri)"
PYTHON=/opt/conda/default/bin/python
gsutil cp "$CODE_URI/bootstrap/requirements-cluster.txt" /tmp/contrail-requirements-cluster.txt
"$PYTHON" -m pip install --quiet --no-cache-dir -r /tmp/contrail-requirements-cluster.txt
"$PYTHON" -c "import mlflow, lightgbm, sklearn, pyarrow; print('contrail init action: mlflow', mlflow.__version__)"
