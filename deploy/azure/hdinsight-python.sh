#!/bin/bash
# HDInsight script action, run as root on the head and worker nodes (persisted, so scaled-out nodes run it
# too): a conda environment holding the pinned libraries Contrail's jobs import on the driver and the
# executors (mlflow.pyfunc.spark_udf loads the model there). Every batch names its Python as PYSPARK_PYTHON
# (CONTRAIL_HDINSIGHT_PYTHON, default /usr/bin/anaconda/envs/contrail/bin/python). Uploaded by
#   python -m contrail.platforms.azure.deploy --code-uri abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PREFIX
# and given the code URI as its only parameter.
set -euo pipefail
CODE_URI="${1:?usage: hdinsight-python.sh abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PREFIX}"
ENV=/usr/bin/anaconda/envs/contrail
hadoop fs -copyToLocal -f "$CODE_URI/bootstrap/requirements-cluster.txt" /tmp/contrail-requirements-cluster.txt
test -x "$ENV/bin/python" || /usr/bin/anaconda/bin/conda create --yes --quiet --prefix "$ENV" python=3.11 pip
"$ENV/bin/python" -m pip install --quiet --no-cache-dir -r /tmp/contrail-requirements-cluster.txt
"$ENV/bin/python" -c "import mlflow, lightgbm, sklearn, pyarrow; print('contrail script action: mlflow', mlflow.__version__)"
