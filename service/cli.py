"""The `spasticity-cds` command: serve, evaluate, rules, report, check.

`serve` runs gunicorn (never Flask's development server) with the same settings module the
container uses; `evaluate` answers one hook request without a server, which is handy for testing a
captured request; `report` reads the same database the service writes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    """exec gunicorn with spasticity_cds.gunicorn_conf.

    Each gunicorn worker is its own process with its own metrics; unless the deployment names a
    PROMETHEUS_MULTIPROC_DIR (the image does), a fresh temporary one is made for this run so
    /metrics adds up every worker. gunicorn's `on_exit` hook removes it when the server stops.
    """
    import tempfile

    from .metrics import MULTIPROC_ENV, SERVE_METRICS_DIR_ENV

    env = dict(os.environ, HOST=args.host, PORT=str(args.port))
    if args.workers:
        env["CDS_WORKERS"] = str(args.workers)
    from .config import Config, ServerConfig

    Config.from_env(env)  # a bad CDS_* value stops here, named, before gunicorn starts workers
    ServerConfig.from_env(env)
    if not env.get(MULTIPROC_ENV):
        env[MULTIPROC_ENV] = env[SERVE_METRICS_DIR_ENV] = tempfile.mkdtemp(prefix="spasticity-cds-metrics-")
    settings, app = "python:spasticity_cds.gunicorn_conf", "spasticity_cds.wsgi:app"
    command = [sys.executable, "-m", "gunicorn", "-c", settings, app]
    os.execvpe(command[0], command, env)
    return 0  # pragma: no cover - exec does not return


def _load_request(path: str) -> Any:
    try:
        raw = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()  # noqa: SIM115
    except OSError as exc:
        raise SystemExit(f"error: cannot read {path}: {exc.strerror}") from None
    return raw


def _evaluate(args: argparse.Namespace) -> int:
    import uuid

    from .config import Config
    from .errors import CdsError
    from .knowledge import load_knowledge
    from .pipeline import evaluate_hook
    from .prefetch import FhirFetcher
    from .runtime import Runtime
    from .validation import check, check_hook_request, parse_json_body

    config = Config.from_env()
    knowledge = load_knowledge()
    raw = _load_request(args.file)
    fetcher = FhirFetcher(config)
    try:
        body = parse_json_body(raw, "application/json", config.max_json_depth, lone_surrogates="replace")
        check("cds-request.schema.json", body)
        hook = body["hook"]
        services = [s for s in knowledge.services.values() if s["hook"] == hook]
        if args.service:
            services = [knowledge.services[args.service]] if args.service in knowledge.services else []
        if not services:
            raise CdsError(f"hook: no service answers {hook!r}", field="hook")
        service = services[0]
        check_hook_request(body, service["hook"])
        runtime = Runtime(
            config, knowledge, None, fetcher, lambda: str(uuid.uuid4()), lambda: datetime.now(UTC)
        )
        response = evaluate_hook(body, service=service, runtime=runtime)
    except CdsError as exc:
        print(f"error ({exc.status}): {exc.message}", file=sys.stderr)
        return 2 if exc.status < 500 else 1
    finally:
        fetcher.close()
    json.dump(response, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _render(args: argparse.Namespace) -> int:
    """A response (or, with --request, the response to a hook request) as an HTML page."""
    from .render import render_html

    if args.request:
        import contextlib
        import io

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            status = _evaluate(argparse.Namespace(file=args.file, service=None))
        if status:
            return status
        response = json.loads(buffer.getvalue())
    else:
        try:
            response = json.loads(_load_request(args.file))
        except ValueError as exc:
            print(f"error: {args.file} is not JSON: {exc}", file=sys.stderr)
            return 2
    if not isinstance(response, dict) or not isinstance(response.get("cards"), list):
        print(f"error: {args.file} is not a CDS Hooks response (no cards array)", file=sys.stderr)
        return 2
    sys.stdout.write(render_html(response, title=args.title or os.path.basename(args.file)))
    return 0


def _rules(args: argparse.Namespace) -> int:
    from .catalogue import render_markdown, render_text
    from .knowledge import load_knowledge

    knowledge = load_knowledge()
    sys.stdout.write(render_markdown(knowledge) if args.markdown else render_text(knowledge))
    return 0


def _report(args: argparse.Namespace) -> int:
    from .config import Config
    from .knowledge import load_knowledge
    from .report import format_json, format_table, parse_since, with_reason_displays
    from .store import Store

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = Config.from_env()
    store = Store(config.effective_database_url)
    try:
        report = with_reason_displays(store.report(since), load_knowledge())
    finally:
        store.close()
    print(format_json(report) if args.json else format_table(report))
    return 0


def _check(args: argparse.Namespace) -> int:
    from .check import run_check

    if args.token_file and args.token_command:
        print("error: give --token-file or --token-command, not both", file=sys.stderr)
        return 2
    return run_check(
        args.url,
        token_file=args.token_file,
        token_command=args.token_command,
        out=sys.stdout,
        timeout=args.timeout,
    )


def _version_text() -> str:
    from .knowledge import load_knowledge
    from .version import version_string

    return version_string(load_knowledge())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spasticity-cds", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print version, commit and knowledge version")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="serve the CDS Hooks API under gunicorn")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.add_argument("--workers", type=int, default=None, help="worker processes (default: from CPUs)")
    serve.set_defaults(run=_serve)

    evaluate = sub.add_parser("evaluate", help="print the response to a hook request FILE (- for stdin)")
    evaluate.add_argument("file")
    evaluate.add_argument("--service", help="service id (default: the service of the request's hook)")
    evaluate.set_defaults(run=_evaluate)

    render = sub.add_parser("render", help="print a CDS Hooks response FILE as HTML cards (- for stdin)")
    render.add_argument("file")
    render.add_argument("--request", action="store_true", help="FILE is a hook request: evaluate it first")
    render.add_argument("--title", help="page heading (default: the file name)")
    render.set_defaults(run=_render)

    rules = sub.add_parser("rules", help="list the rules with trigger, indicator and evidence")
    rules.add_argument("--markdown", action="store_true", help="print docs/RULES.md")
    rules.set_defaults(run=_rules)

    report = sub.add_parser("report", help="per-rule alert analytics from the stored feedback")
    report.add_argument("--json", action="store_true", help="JSON instead of a table")
    report.add_argument("--since", help="window start: 7d, 12h, 2w or an ISO date")
    report.set_defaults(run=_report)

    check = sub.add_parser("check", help="conformance check of a running instance (exit 1 on any failure)")
    check.add_argument("url", help="base URL of the instance, e.g. https://cds.example.org")
    check.add_argument("--token-file", help="send 'Authorization: Bearer <contents>' on every call")
    check.add_argument(
        "--token-command",
        help="run this command once per call with the URL as last argument; its output is the bearer "
        "token (a fresh JWT per call, as CDS_AUTH=jwt requires)",
    )
    check.add_argument("--timeout", type=float, default=10.0, help="seconds per call (default 10)")
    check.set_defaults(run=_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(_version_text())
        return 0
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from .config import SettingError

    try:
        return int(args.run(args))
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
