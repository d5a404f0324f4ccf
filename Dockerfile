# wirewatch worker / tools image. Not built on the development machines (no Docker engine there).
# The base is pinned to an exact Python release; raise it deliberately, with the security notes.
FROM python:3.11.14-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    WIREWATCH_STATIC_MODEL_DIR=/app/static-model WIREWATCH_ONNX_MODEL_DIR=/app/onnx-model
WORKDIR /app
# CPU-only torch from the PyTorch CPU index, so the image does not carry CUDA.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY agents ./agents
COPY wirewatch ./wirewatch
COPY config ./config
RUN pip install --no-cache-dir .
# MiniLM's ONNX export (what the worker runs) and the screening cascade's static model, both made
# from the installed MiniLM at build time (offline).
RUN wirewatch presearch build
RUN useradd --create-home --uid 10001 wirewatch && mkdir -p /app/var && chown wirewatch /app/var
USER wirewatch
EXPOSE 6066
# The worker's readiness page; the slack-sink service overrides this with its own check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=4 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/ready', timeout=3)"
ENTRYPOINT ["wirewatch"]
CMD ["worker"]
