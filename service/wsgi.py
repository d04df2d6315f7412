"""The WSGI entry point for gunicorn (`gunicorn spasticity_cds.wsgi:app`).

Importing this module builds the app from the environment (CDS_* variables), which is what a
server process wants; everything else (tests, the CLI) calls `create_app` itself so that importing
the package never does work. The process is a server from here on: its start-up heap is frozen
out of the garbage collector's way (service/heap.py).
"""

from . import create_app
from .heap import settle_after_start_up

app = create_app()
settle_after_start_up()
