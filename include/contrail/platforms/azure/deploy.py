"""Ship the code the HDInsight batches run:
`python -m contrail.platforms.azure.deploy --code-uri abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PREFIX`.

Uploads, under the code URI (set it as CONTRAIL_AZURE_CODE_URI), through the lake's storage connection:

    spark_jobs/*.py                      the job files every batch runs, as they are
    bootstrap/hdinsight-python.sh        the cluster's script action: the executors' Python environment
    bootstrap/requirements-cluster.txt   its libraries, pinned to the versions of requirements.txt (the lock)

Run the script action once on the cluster's head and worker nodes, persisted so that scaled-out nodes get it too
(the README's Azure setup shows the `az hdinsight script-action execute` command).
"""

from __future__ import annotations

import sys

from contrail.config import PROJECT_ROOT
from contrail.platforms import code
from contrail.platforms.code import cluster_requirements, job_files


def files() -> dict[str, bytes]:
    """Key under the code URI -> content."""
    return {**job_files(), "bootstrap/hdinsight-python.sh": (PROJECT_ROOT / "deploy/azure/hdinsight-python.sh").read_bytes(),
            "bootstrap/requirements-cluster.txt": cluster_requirements().encode()}


SETTING = "CONTRAIL_AZURE_CODE_URI"


def upload(code_uri: str, conn_id: str) -> list[str]:
    from contrail.platforms.azure.account import container_of

    container_of(code_uri, "--code-uri")
    return code.upload(code_uri, conn_id, files())


def main(argv: list[str] | None = None) -> int:
    args = code.deploy_parser(__doc__, "abfs://container@account.dfs.core.windows.net/prefix", SETTING, "wasb_default").parse_args(argv)
    code.report(upload(args.code_uri, args.conn_id), SETTING, args.code_uri)
    return 0


if __name__ == "__main__":
    sys.exit(main())
