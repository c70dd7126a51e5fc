# syntax=docker/dockerfile:1
# The one artefact: every role of orbweaver (`orbweaver run --roles ...`), the migration job
# (`orbweaver db upgrade`) and the CLI. Two stages: wheels are built with a compiler, the
# image that runs has none.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
# A compiler and headers, for the dependencies that may build from source (pdqhash, numba's
# llvmlite on an architecture without wheels).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/orbweaver
ENV PATH=/opt/orbweaver/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The pinned versions first, so the dependency layer is cached across code changes.
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# The project and its runtime dependencies only (no [dev] extra), at the pinned versions.
RUN pip install -c constraints.txt .

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# What the product calls at run time: libarchive (archives through libarchive-c), unar and
# lsar (RAR that libarchive cannot open, e.g. encrypted), CA certificates (RDAP, SMTP TLS).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libarchive13 unar ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/orbweaver /opt/orbweaver
RUN groupadd --system orbweaver \
    && useradd --system --gid orbweaver --home-dir /var/lib/orbweaver --create-home orbweaver
ENV PATH=/opt/orbweaver/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ORBWEAVER_DATA_DIR=/var/lib/orbweaver
WORKDIR /var/lib/orbweaver
USER orbweaver
# serve's app, then the roles' /livez, /readyz and /metrics (supervisor, crawl, notify,
# monitor, review-sync, exchanges), as `orbweaver config show` lists them.
EXPOSE 8000 9400 9401 9402 9403 9404 9405
ENTRYPOINT ["orbweaver"]
CMD ["run"]
