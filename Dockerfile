# Gesso API image: slim Python, dependencies in their own cached layer, a non-root user.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock or the project metadata change.
# The c2pa extra is included, so published JPEGs are signed once GESSO_C2PA_* are set.
COPY pyproject.toml requirements.lock README.md ./
RUN mkdir -p server schema resolvers storage imaging \
    && touch server/__init__.py schema/__init__.py resolvers/__init__.py storage/__init__.py imaging/__init__.py \
    && pip install -c requirements.lock '.[c2pa]' \
    && pip uninstall -y gesso

COPY server ./server
COPY schema ./schema
COPY resolvers ./resolvers
COPY storage ./storage
COPY imaging ./imaging
RUN pip install --no-deps -c requirements.lock . \
    && useradd --create-home --uid 10001 gesso \
    && mkdir -p /data && chown gesso /data

USER gesso
ENV GESSO_DATA_DIR=/data GESSO_HOST=0.0.0.0 GESSO_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["gesso", "serve", "--host", "0.0.0.0", "--port", "8000"]
