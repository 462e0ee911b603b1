FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    KANAL_VAR_DIR=/app/var \
    STATIC_ROOT=/app/static

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN useradd --create-home --uid 1000 kanal \
    && mkdir -p /app/var /app/media \
    && SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && chown -R kanal:kanal /app/var /app/media

USER kanal
EXPOSE 8000
CMD ["gunicorn", "newsletter_site.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
