# vpa-stream: one image for every stage (replay, process, sink, backfill).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY vpa_stream ./vpa_stream
# setup.py compiles the engine with mypyc when a C compiler is present; the slim image has none, so the
# engine installs as pure Python (same records, about 1.6x slower). Add build-essential for the compiled one.
RUN pip install --no-cache-dir .
ENTRYPOINT ["vpa-stream"]
CMD ["--help"]
