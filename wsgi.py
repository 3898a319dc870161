"""The WSGI entry point: `gunicorn wsgi:app`."""

from panel_addon import create_app

app = create_app()
