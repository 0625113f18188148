# One image for web, worker, beat and emulator; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Static files are built into the image: compressed copies under content-hashed names plus the manifest
# that the web process (DEBUG=0) resolves {% static %} through. DEBUG=1 only lets the settings load
# without secrets at build time (collectstatic uses none); it is not set in the image.
RUN DEBUG=1 STATICFILES_MANIFEST=1 python manage.py collectstatic --noinput
EXPOSE 8000 8100
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]
