"""gunicorn configuration of the container image (copied to /app/gunicorn.conf.py).

The settings live in the installed package, `service/gunicorn_conf.py`, so the image,
`spasticity-cds serve` and `gunicorn -c python:spasticity_cds.gunicorn_conf` all run with the same
ones;
this file only re-exports them. Override them through the environment variables listed there
(`CDS_WORKERS`, `PORT` ...), not by editing this file.
"""

from spasticity_cds.gunicorn_conf import *  # noqa: F403
