# The production image: one image for web, worker, beat and the one-shot migrate (docker-compose.yml).
# Browser libraries the pages serve themselves (package-lock.json pins them; see the Makefile).
FROM node:20-slim AS static
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && mkdir -p vendor/uplot \
    && cp node_modules/uplot/LICENSE node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css vendor/uplot/

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 STATIC_ROOT=/app/staticfiles
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The CPU build of torch first, so no CUDA packages are pulled in.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
COPY --from=static /build/vendor nyxsync/static/nyxsync/vendor
# The int8 ONNX model, built from the bundled weights into the image (embeddings.backends.onnx_build).
RUN python -m embeddings.backends.onnx_build
RUN SECRET_KEY=build-only DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --no-input \
    && useradd --create-home --uid 1000 nyxsync && chown -R nyxsync /app
USER nyxsync
EXPOSE 8000
CMD ["uvicorn", "nyxsync.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "2"]
