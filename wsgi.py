"""WSGI entry point: `flask --app wsgi ...`, `gunicorn wsgi:app`. Reads `.env` if present."""
from dotenv import load_dotenv

load_dotenv()

from portal import create_app  # noqa: E402

app = create_app()
