# helpbot in a container: `docker compose up` (compose.yaml) or
#   docker build -t helpbot . && docker run --env-file .env -v helpbot:/var/lib/helpbot helpbot
# It installs what scripts/setup installs, without the development tools (see docs/deploy.md);
# tests/integration/test_deploy_files.py keeps the two in step.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY knowledge ./knowledge
COPY migrations ./migrations
RUN python3 -m venv /opt/helpbot
RUN /opt/helpbot/bin/python -m pip install --quiet --no-cache-dir --upgrade pip
RUN /opt/helpbot/bin/python -m pip install --quiet --no-cache-dir .

FROM python:3.11-slim
ENV PATH=/opt/helpbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HELPBOT_HOME=/var/lib/helpbot \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/helpbot --shell /usr/sbin/nologin helpbot \
    && mkdir -p /var/lib/helpbot \
    && chown helpbot:helpbot /var/lib/helpbot
COPY --from=build /opt/helpbot /opt/helpbot
USER helpbot
WORKDIR /var/lib/helpbot
# The SQLite database (when DATABASE_URL is empty), the index cache and drafts.
VOLUME ["/var/lib/helpbot"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEB_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["helpbot"]
CMD ["serve"]
