# Huntaze image: `huntaze serve` (HTTP server + configured chat adapters) by default.
#
#   docker build -t huntaze .
#   docker run --rm -p 8080:8080 --env-file .env huntaze
#
# Two stages: `build` turns the project and every dependency into wheels (compilers live only
# here) and installs them into the virtualenv /opt/huntaze; `runtime` copies that virtualenv onto
# a clean slim image and runs as an unprivileged user. Works with BuildKit and the classic
# builder alike. Nothing secret is baked in: configuration comes from the environment at
# run time (see docs/OPERATIONS.md). Database migrations run when the app starts.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- build: wheels
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# Only for dependencies that have no wheel for this platform; never reaches the runtime image.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Everything .dockerignore lets through: pyproject.toml, README.md and the Python packages.
COPY . .

RUN python -m pip wheel --wheel-dir /wheels . \
    && python -m venv /opt/huntaze \
    && /opt/huntaze/bin/pip install --no-index --find-links=/wheels huntaze \
    && /opt/huntaze/bin/pip uninstall -y pip

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/huntaze/bin:$PATH \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    DATA_DIR=/var/lib/huntaze \
    LOG_FORMAT=json

RUN groupadd --system --gid 10001 huntaze \
    && useradd --system --uid 10001 --gid huntaze --no-create-home \
        --home-dir /var/lib/huntaze --shell /usr/sbin/nologin huntaze \
    && install -d -o huntaze -g huntaze -m 0750 /var/lib/huntaze

# Only the virtualenv crosses over: no wheels, sources or compilers. Both stages share the base
# image, so the venv's interpreter links (/usr/local/bin/python3.11) resolve the same here.
COPY --from=build /opt/huntaze /opt/huntaze

WORKDIR /var/lib/huntaze
USER huntaze:huntaze

EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('HTTP_PORT', '8080'), timeout=4)"]

STOPSIGNAL SIGTERM
CMD ["huntaze", "serve"]
