# syntax=docker/dockerfile:1
# Prewarm's image. By default it runs `prewarm serve` (the KEDA external scaler) with the
# config the Kubernetes manifests mount at /etc/prewarm (deploy/base).
#   docker build -t prewarm:dev .
#   docker run --rm -p 9090:9090 -p 8080:8080 prewarm:dev serve --demo
#
# Two stages: the builder installs the package and its wheels into a virtual environment;
# the final image is the same slim Python plus that environment only: no build tools, no pip
# cache, no source tree, no tests.

# Both stages must use the same Python: the venv's interpreter is a symlink into it.
# Pin a digest (python:3.11-slim@sha256:...) for reproducible builds.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/prewarm
ENV PATH=/opt/prewarm/bin:$PATH
WORKDIR /src
# The runtime lock first, so its layer is cached until the lock changes: every dependency and
# the build backend at the version and hash `make lock` wrote (requirements/runtime.txt).
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --require-hashes -r requirements/runtime.txt
# `--build-arg WITH_RAY=true` builds the image for sweeps on a Ray cluster (head, workers and
# the `prewarm sweep --ray-address auto` driver: deploy/examples/rayjob-sweep.yaml): the
# runtime lock plus the ray extra, at the same versions and hashes (requirements/ray.txt).
# The default image serves KEDA and goes without Ray's ~245 MB.
ARG WITH_RAY=false
COPY requirements/ray.txt requirements/ray.txt
RUN if [ "$WITH_RAY" = true ]; then pip install --require-hashes -r requirements/ray.txt; fi
# What `pip install .` needs: the project metadata (pyproject names README.md as the readme)
# and the packages it lists under [tool.setuptools.packages.find].
COPY pyproject.toml README.md ./
COPY autoscaler/ autoscaler/
COPY scheduler/ scheduler/
COPY simulations/ simulations/
COPY prewarm_cli/ prewarm_cli/
COPY external_scaler_proto/ external_scaler_proto/
# A regular (non-editable) install: the venv must not point back into /src. pip compiles
# the .pyc files here, which matters because the container's root filesystem is read-only.
# No dependency and no build backend is fetched here: the lock installed them all.
RUN pip install --no-deps --no-build-isolation . \
 && pip check

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="prewarm" \
      org.opencontainers.image.description="Predictive autoscaler for vLLM on Kubernetes (KEDA external scaler)"
# One BLAS thread: forecaster fits are many small matrices, where OpenBLAS' per-core threads
# only fight each other and the RPC loop (ARIMA fits measured 3-4x slower with them).
ENV PATH=/opt/prewarm/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1
# A numeric, unprivileged user: Kubernetes' runAsNonRoot can only verify a numeric UID, and
# deploy/base runs as this same 10001.
RUN groupadd --system --gid 10001 prewarm \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin prewarm
COPY --from=builder /opt/prewarm /opt/prewarm
USER 10001:10001
WORKDIR /tmp
# gRPC for KEDA (grpc.port), HTTP for /healthz, /metrics and /models (http.port).
EXPOSE 9090 8080
ENTRYPOINT ["prewarm"]
CMD ["serve", "--config", "/etc/prewarm/prewarm.yaml"]
