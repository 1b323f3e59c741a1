# Suishen Pass service image (not buildable on the development machines; kept minimal and correct).
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends libzbar0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 suishen

WORKDIR /srv/suishen
COPY pyproject.toml README.md ./
COPY keys ./keys
COPY verifier ./verifier
COPY app ./app
COPY scanner_client ./scanner_client
COPY data ./data
# Editable, so that the sample catalogue in ./data is found beside the packages.
RUN pip install --no-cache-dir -e . \
 && mkdir -p /srv/suishen/var /srv/suishen/keys \
 && chown suishen:suishen /srv/suishen/var /srv/suishen/keys \
 && chmod 0700 /srv/suishen/var /srv/suishen/keys
# A named volume mounted at /srv/suishen/var (or /srv/suishen/keys, the keys volume the replicas of
# compose.yaml share) starts as a copy of this folder, so it belongs to suishen too.

USER suishen
ENV SUISHEN_KEY_PASSPHRASE_FILE=/run/secrets/suishen_key_passphrase \
    SUISHEN_KEYS_DIR=/srv/suishen/var/keys \
    SUISHEN_DATA_DIR=/srv/suishen/var/serve
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
# --init: the first start makes the key ring and secrets (refusing a missing or weak passphrase); later starts
# check them and change nothing (app/first_start.py).
CMD ["suishen", "serve", "--init", "--host", "0.0.0.0", "--port", "8000"]
