# The one image of Contrail's production-shape deployment (docker-compose.yaml): every Airflow
# component (api-server, scheduler, dag-processor, triggerer, Celery worker) and the MLflow server.
#
#   docker compose build
#
# Python 3.11 and the fully pinned lock (requirements.txt) as in the local venv, plus a Java 17
# runtime for Spark. The project code is baked in under /opt/contrail so the image runs on its own;
# docker-compose.yaml also mounts dags/, plugins/, include/ and spark_jobs/ over it read-only.
#
# bookworm is pinned on purpose: python:3.11-slim now follows Debian trixie, which has no
# openjdk-17 package (pyspark 4.2 supports Java 17 and 21; the project is verified on 17).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ARG UV_VERSION=0.13.8
ARG AIRFLOW_UID=50000

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    PYTHONPATH=/opt/contrail/include:/opt/contrail \
    PYSPARK_PYTHON=/usr/local/bin/python \
    JAVA_HOME=/usr/lib/jvm/java-17

# Java for Spark (the man1 folder is missing in slim images and the JRE's postinst needs it),
# tini as PID 1 (forwards SIGTERM so Celery shuts down warm), curl for the healthchecks.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini curl procps \
 && rm -rf /var/lib/apt/lists/* \
 && ln -sfn "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" "$JAVA_HOME" \
 && java -version

# Dependencies first, so that a code change does not reinstall them.
WORKDIR /opt/contrail
COPY requirements.txt ./
RUN pip install "uv==${UV_VERSION}" \
 && uv pip install --system --no-cache -r requirements.txt \
 && python -c "import importlib.metadata as m; print('airflow', m.version('apache-airflow'))"

# The project (.dockerignore lets in only what the pipeline needs). It is importable through
# PYTHONPATH: include/ holds the `contrail` package, the project root holds `spark_jobs`.
COPY . ./
RUN mkdir -p dags plugins include spark_jobs \
 && python -c "import contrail.config, spark_jobs"

# Run as an unprivileged user (group 0, as in the official Airflow image); AIRFLOW_HOME holds
# the logs (a named volume in compose) and the components' small state files.
RUN useradd --uid "${AIRFLOW_UID}" --gid 0 --home-dir "${AIRFLOW_HOME}" --create-home --shell /bin/bash airflow \
 && mkdir -p "${AIRFLOW_HOME}/logs" "${AIRFLOW_HOME}/state" \
 && chown -R "${AIRFLOW_UID}:0" "${AIRFLOW_HOME}" \
 && chmod -R g=u "${AIRFLOW_HOME}"
USER ${AIRFLOW_UID}
WORKDIR ${AIRFLOW_HOME}

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["airflow", "version"]
