# syntax=docker/dockerfile:1
# The Scout stream dataflow image: `scout run`, `scout worker`, `scout db migrate`, `scout replay`,
# `scout grafana push`, and `python -m bytewax.run dataflows.entrypoint:flow` (k8s/README.md has the
# build and push commands). Only the `cloud` extra, pinned by constraints.txt; no compiler anywhere
# (every dependency is a binary wheel); a non-root user with a fixed UID; tini as PID 1, so SIGTERM
# reaches `scout`, which ends the dataflow cleanly (last epoch written and snapshotted).
#
# Base image: python:3.11.10-slim-bookworm
#   digest sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16
#   (as a public Renovate-pinned Dockerfile records it; no container registry can be reached from the
#   machines this was written on, so check it with `docker buildx imagetools inspect` before the first
#   push, and move the tag and the digest together)
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CONSTRAINT=/src/constraints.txt
WORKDIR /src
RUN python -m venv /opt/scout
COPY pyproject.toml constraints.txt README.md ./
COPY clickhouse/ clickhouse/
COPY scout_contract/ scout_contract/
COPY scout_bundles/ scout_bundles/
COPY scout_cli/ scout_cli/
COPY dataflows/ dataflows/
COPY edge_runtime/ edge_runtime/
COPY bundle_tooling/ bundle_tooling/
COPY grafana/ grafana/
RUN /opt/scout/bin/pip install --no-compile ".[cloud]"

FROM ${PYTHON_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 scout \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin scout
COPY --from=build /opt/scout /opt/scout
# HOME and the working directory are /tmp: the root filesystem can be read-only with an emptyDir there
ENV PATH=/opt/scout/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    SCOUT_METRICS_HOST=0.0.0.0
WORKDIR /tmp
USER 10001:10001
# /metrics, /livez and /readyz (with SCOUT_METRICS_PORT=9100)
EXPOSE 9100
ENTRYPOINT ["/usr/bin/tini", "--", "scout"]
CMD ["--help"]
