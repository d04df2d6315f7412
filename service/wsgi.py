"""The WSGI entry point for gunicorn (`gunicorn service.wsgi:app`).

Importing this module builds the app from the environment (CDS_* variables), which is what a
server process wants; everything else (tests, the CLI) calls `create_app` itself so that importing
the package never does work.
"""

from service import create_app

app = create_app()
