#!/usr/bin/env bash
# Print the PostgreSQL URL for the test run if a server answers; exit 1 otherwise.
set -u
url="${MEDOA_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/medoa}"
if "${PYTHON:-.venv/bin/python}" - "$url" <<'PY' >/dev/null 2>&1
import sys, psycopg, dj_database_url
cfg = dj_database_url.parse(sys.argv[1])
psycopg.connect(host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], password=cfg["PASSWORD"] or None,
                dbname="postgres", connect_timeout=3).close()
PY
then echo "$url"; exit 0; fi
exit 1
