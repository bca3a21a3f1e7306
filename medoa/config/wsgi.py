"""WSGI entry point for `medoa serve` (gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medoa.config.settings")
application = get_wsgi_application()
