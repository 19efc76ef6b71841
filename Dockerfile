# oktasync as a container: the CLI is the entrypoint, it runs as an unprivileged user, and nothing secret is
# in the image (tokens come from the environment at `docker run`, keys and configs from mounts).
#
#   docker build -t oktasync .
#   docker run --rm oktasync demo
#   docker run --rm -e OKTA_API_TOKEN -v "$PWD/configs:/work/configs:ro" -v oktasync-state:/state \
#       oktasync plan configs/acme.yaml
#
# docs/install.md, Container, has the rest (state volume, metrics, event hooks).

# --- build the wheel ---------------------------------------------------------------------------------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip install "build>=1.2,<2"
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY oktasync ./oktasync
RUN python -m build --wheel --outdir /dist .

# --- the image: the wheel and its dependencies, nothing else ------------------------------------------------
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN --mount=type=bind,from=build,source=/dist,target=/dist pip install /dist/oktasync-*.whl \
    && groupadd --gid 10001 oktasync \
    && useradd --create-home --uid 10001 --gid 10001 oktasync \
    && mkdir /state /work \
    && chown oktasync:oktasync /state /work \
    && chmod 0700 /state
# Journals, locks and run records (docs/install.md): mount a volume here, or they are lost with the container.
ENV OKTASYNC_STATE_DIR=/state
VOLUME ["/state"]
WORKDIR /work
USER 10001:10001
ENTRYPOINT ["oktasync"]
CMD ["--help"]
