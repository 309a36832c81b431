# llm-gateway: a slim, non-root image. Build: docker build -t llm-gateway .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY translators ./translators
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --create-home gateway
COPY --from=build /install /usr/local
WORKDIR /app
ENV HOST=0.0.0.0 \
    PORT=3007 \
    PYTHONUNBUFFERED=1 \
    COST_DB_PATH=/app/data/costs.db
USER gateway
EXPOSE 3007
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"3007\")}/api/health', timeout=2)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["llm-gateway"]
