# wirewatch worker / tools image. Not built on the development machines (no Docker engine there).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
WORKDIR /app
# CPU-only torch from the PyTorch CPU index, so the image does not carry CUDA.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY agents ./agents
COPY wirewatch ./wirewatch
COPY config ./config
RUN pip install --no-cache-dir .
RUN useradd --create-home wirewatch && mkdir -p /app/var && chown wirewatch /app/var
USER wirewatch
EXPOSE 6066
ENTRYPOINT ["wirewatch"]
CMD ["worker"]
