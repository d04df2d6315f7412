"""The floor for this stack: a bare Flask app that reads the JSON body and returns fixed bytes.

Served by `benchmarks/run.py` under the service's own gunicorn settings
(`gunicorn -c python:spasticity_cds.gunicorn_conf floor_app:app`), so the service / floor ratio shows
what the service costs beyond Flask, gunicorn, JSON parsing and the loopback itself.
"""

from __future__ import annotations

from flask import Flask, Response, request

RESPONSE = b'{"cards":[]}'

app = Flask(__name__)


@app.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    request.get_json(force=True)  # read and parse the body, as the service must
    return Response(RESPONSE, mimetype="application/json")


@app.get("/cds-services")
def discovery() -> Response:
    return Response(b'{"services":[]}', mimetype="application/json")
