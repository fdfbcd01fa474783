# imgserver container image: `docker build -t imgserver .`
#
#   docker run --rm -p 8888:8888 -e IMGSERVER_SECURITY_KEYS=<key> \
#       -v "$PWD/samples:/srv/images:ro" imgserver              # the server (file loader)
#   docker run --rm --no-healthcheck --env-file imgserver.env imgserver worker   # S3-event worker
#
# All settings come from IMGSERVER_<SECTION>_<NAME> environment variables (README,
# "Configuration"); mount a TOML file and pass `serve --config /path` if you prefer one.
# Signing keys are never baked in: pass IMGSERVER_SECURITY_KEYS at run time.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: the same install as `make setup`, minus the editable flag and the test extras ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# setup.cfg and pyproject.toml are what the Makefile's setup stamp depends on; README.md is
# the package's long_description.
COPY setup.cfg pyproject.toml README.md ./
COPY imgserver ./imgserver
RUN python -m venv /opt/imgserver \
 && /opt/imgserver/bin/python -m pip install --quiet --upgrade pip \
 && /opt/imgserver/bin/python -m pip install --quiet .

# ---- runtime: the virtualenv only (libvips comes inside the pyvips-binary wheel) ----
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 imgserver \
 && useradd --system --uid 10001 --gid imgserver --home-dir /nonexistent --shell /usr/sbin/nologin imgserver \
 && install -d -o imgserver -g imgserver -m 0755 /srv/images
COPY --from=build /opt/imgserver /opt/imgserver
# MALLOC_ARENA_MAX=2: two glibc malloc arenas per process instead of eight per core, or
#   libvips' threads fragment the heap and RSS only grows.
# VIPS_BLOCK_UNTRUSTED=1: libvips refuses every loader marked untrusted from its start-up
#   on (the server also blocks them, and every loader but its six, in code).
# One serving process per container: scale with replicas, or set IMGSERVER_SERVER_PROCESSES=0.
ENV PATH=/opt/imgserver/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MALLOC_ARENA_MAX=2 \
    VIPS_BLOCK_UNTRUSTED=1 \
    IMGSERVER_SERVER_HOST=0.0.0.0 \
    IMGSERVER_SERVER_PORT=8888 \
    IMGSERVER_SERVER_PROCESSES=1 \
    IMGSERVER_FILE_ROOT=/srv/images
USER imgserver:imgserver
WORKDIR /tmp
EXPOSE 8888
# No curl in the slim image: Python's urllib asks /healthcheck for WORKING.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('IMGSERVER_SERVER_PORT', '8888'); body = urllib.request.urlopen(f'http://127.0.0.1:{port}/healthcheck', timeout=4).read(); sys.exit(0 if body.startswith(b'WORKING') else 1)"]
ENTRYPOINT ["imgserver"]
CMD ["serve"]
