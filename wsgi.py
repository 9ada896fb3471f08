"""WSGI entry point: `gunicorn wsgi:app` or `flask --app wsgi ...`."""
from kil_network import create_app

app = create_app()
