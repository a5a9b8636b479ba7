# One image for the three roles of compose.yaml: the web app (gunicorn, the default command), the
# worker (dramatiq) and the one-shot `migrate` job (flask --app outreach setup).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user that owns nothing but the instance folder.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home outreach
WORKDIR /app

# Dependencies first, read from pyproject.toml alone, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself, installed editable: outreach/__init__.py finds the page templates at
# ../templates, so the tree must keep its layout (/app/outreach next to /app/templates). A plain
# `pip install .` would copy the packages into site-packages and leave templates/ behind.
COPY . .
RUN pip install --no-deps -e . \
    && mkdir -p /app/instance \
    && chown outreach:outreach /app/instance

USER outreach
# Production keeps nothing here (database, broker and secret come from OUTREACH_* variables), but
# create_app() makes the folder and the /dev/mailbox page reads it, so it must exist and be writable.
ENV OUTREACH_INSTANCE_PATH=/app/instance
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-", "outreach:create_app()"]
