# One image for web, worker and beat (see docker-compose.yml). Runtime dependencies only:
# compose sets DATABASE_URL and REDIS_URL, so neither the embedded servers nor the test tools
# (requirements-embedded.txt, requirements-dev.txt) belong here; a test checks it.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DEBUG=1 DATABASE_URL=postgres://x@localhost/x REDIS_URL=redis://localhost:6379/0 python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "--config", "python:supportbot.gunicorn_config", "--bind", "0.0.0.0:8000", "--workers", "3"]
