"""HTTP endpoints, one module per group; views stay thin (validate -> domain -> respond)."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import discovery, feedback, hooks, openapi, status

    app.register_blueprint(discovery.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(feedback.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(openapi.bp)
    if app.extensions["cds"].config.contract_states:
        # Contract tests only (CDS_CONTRACT_STATES=1): provider states and a tiny FHIR endpoint.
        from . import contract_states

        app.register_blueprint(contract_states.bp)
