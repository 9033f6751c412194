# vpa-stream: one image for every stage (replay, process, sink, backfill).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY vpa_stream ./vpa_stream
RUN pip install --no-cache-dir .
ENTRYPOINT ["vpa-stream"]
CMD ["--help"]
