# syntax=docker/dockerfile:1
# The Scout stream dataflow image: `scout run`, `scout worker`, `scout db migrate`, `scout replay`,
# `scout grafana push`, and `python -m bytewax.run dataflows.entrypoint:flow` (k8s/README.md has the
# build and push commands). Only the `cloud` extra, pinned by constraints.txt, plus the compiled decode
# path (the Rust crate in dataflows/bronze/native, built as a wheel in the Rust image's stage: the
# columnar engine's validation and kernels); no compiler in the image itself; a non-root user with a
# fixed UID; tini as PID 1, so SIGTERM reaches `scout`, which ends the dataflow cleanly (last epoch
# written and snapshotted).
#
# Base image: python:3.11.10-slim-bookworm
#   digest sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16
#   (as a public Renovate-pinned Dockerfile records it; no container registry can be reached from the
#   machines this was written on, so check it with `docker buildx imagetools inspect` before the first
#   push, and move the tag and the digest together)
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm
# Rust image: rust:1.95.0-slim-bookworm (the toolchain `make native` installs, Makefile RUST_TOOLCHAIN)
#   digest sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082
#   (as public Dockerfiles pinned it in 2026-08; unverified here, like the Python image's)
ARG RUST_IMAGE=rust:1.95.0-slim-bookworm

# The compiled decode path as an abi3 wheel (no Python interpreter needed for it); maturin at the version
# constraints.txt pins, Cargo.lock's crates (--locked). Only the wheel leaves this stage.
FROM ${RUST_IMAGE} AS native
WORKDIR /src
RUN cargo install maturin --version 1.9.6 --locked
COPY dataflows/ dataflows/
RUN maturin build --release --locked --compatibility linux -m dataflows/bronze/native/Cargo.toml -o /wheels

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
COPY --from=native /wheels /wheels
RUN /opt/scout/bin/pip install --no-compile --no-deps /wheels/scout_decode-*.whl

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
