# The Smart Complex image: one image for every program of the project (server, migrations, edge agents,
# simulators), each chosen by its subcommand: `docker run smartcomplex:0.1.0 server --host 0.0.0.0`.
#
# Python 3.11 is the lowest version the project supports (pyproject requires-python); bookworm is Debian 12,
# the distribution CI and the development machines run, so the wheels tested there are the wheels shipped here.
FROM python:3.11-slim-bookworm

# uv from PyPI, pinned to the release the project's lock file is kept with (`uv --version` on the development
# machines); a newer uv may rewrite uv.lock, which --locked below would refuse.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore "uv==${UV_VERSION}"

# UV_PYTHON_DOWNLOADS: use the image's interpreter, never a downloaded one (pyproject says the same).
# UV_COMPILE_BYTECODE: compile once at build time; the running user cannot write into the venv.
# UV_NO_CACHE: the cache would only add its size to the layer.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.11 \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:${PATH}"

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml or uv.lock change, not on every code edit.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project

# Then the project itself (README.md is the package's readme, which the build backend reads).
COPY README.md ./
COPY devices/ devices/
COPY edge/ edge/
COPY server/ server/
COPY simulators/ simulators/
COPY dashboards/ dashboards/
RUN uv sync --locked --no-dev

# An unprivileged user owns only the state directories; the code and the venv stay root-owned and read-only.
# /var/lib/smartcomplex/edge is SC_EDGE_STATE_DIR in docker-compose.yml: a named volume mounted there starts
# as a copy of this directory, ownership included, so the agent can write its sequence numbers.
RUN groupadd --system --gid 10001 smartcomplex \
    && useradd --system --uid 10001 --gid smartcomplex --home-dir /var/lib/smartcomplex --shell /usr/sbin/nologin \
        smartcomplex \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/smartcomplex /var/lib/smartcomplex/edge
# Numeric, so that an orchestrator can verify "not root" without reading the image's /etc/passwd.
USER 10001:10001
ENV SC_EDGE_STATE_DIR=/var/lib/smartcomplex/edge

EXPOSE 8000
ENTRYPOINT ["smartcomplex"]
CMD ["--help"]
