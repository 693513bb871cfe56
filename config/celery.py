"""The Celery application.

With no `CELERY_BROKER_URL` the settings turn on eager execution, so the platform runs with no broker
at all; in production the same tasks go to Redis or RabbitMQ and run on workers.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("cloudconnections")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
