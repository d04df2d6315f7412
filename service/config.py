"""Settings: one declaration of every CDS_* variable, validated when the service starts.

The defaults run the service on a laptop with nothing else installed (SQLite in the per-user data
folder, no auth, no FHIR server needed). Every setting a deployment needs is an environment
variable, so the same image runs in a container, in compose and on Kubernetes.

Each setting is declared once, as a field of `Config` (the application) or `ServerConfig`
(gunicorn, read by service/gunicorn_conf.py) made with `setting(...)`: its type, default, bounds or
choices and a one-line meaning. From that declaration come the parsing (`from_env`), the checks
(a bad value stops start-up with a message naming the variable: `CDS_TRUST_SANDBOX=ture`,
`CDS_FHIR_TIMEOUT=-5` and `CDS_MAX_JSON_DEPTH=0` are refused, not guessed at) and the settings
table in the README (`settings_markdown()`, kept equal by tests/ops/test_settings.py; rewrite it
with `python -m spasticity_cds.config --write-readme`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_type_hints

from platformdirs import user_data_dir

MiB = 1024 * 1024

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

README_START = "<!-- settings: generated from service/config.py; do not edit by hand -->"
README_END = "<!-- settings: end -->"


class SettingError(ValueError):
    """A CDS_* variable (or a Config value) that is not acceptable; the message names it."""


def default_data_dir() -> str:
    """The per-user data folder (`$XDG_DATA_HOME/spasticity-cds`, else
    `~/.local/share/spasticity-cds` on Linux; platformdirs' equivalent elsewhere), so the database
    does not land in whatever folder the service was started from. CDS_DATA_DIR=data keeps the old
    behaviour (a `data` folder in the current directory)."""
    return user_data_dir("spasticity-cds", appauthor=False)


def _default_database_url(data_dir: str) -> str:
    return f"sqlite:///{Path(data_dir).resolve() / 'spasticity-cds.sqlite3'}"


def setting(
    default: Any = MISSING,
    *,
    doc: str,
    default_factory: Any = MISSING,
    minimum: float | None = None,
    above: float | None = None,
    choices: Sequence[str] | None = None,
    env: str | None = None,
    shown_default: str | None = None,
    secret: bool = False,
) -> Any:
    """Declare one setting: a dataclass field whose metadata drives parsing, checks and the docs.

    `minimum` is inclusive, `above` exclusive (a timeout must be above 0); `choices` are compared
    case-insensitively; `env` overrides the variable name (default `CDS_<FIELD>`); `shown_default`
    is what the docs print when the default is computed; `secret` keeps the value out of repr().
    """
    metadata = {
        "doc": doc,
        "minimum": minimum,
        "above": above,
        "choices": tuple(choices) if choices else None,
        "env": env,
        "shown_default": shown_default,
    }
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata, repr=not secret)
    return field(default=default, metadata=metadata, repr=not secret)


def env_name(f: Field[Any]) -> str:
    return str(f.metadata.get("env") or f"CDS_{f.name.upper()}")


S = TypeVar("S", bound="_Settings")


class _Settings:
    """Parsing and checking shared by `Config` and `ServerConfig` (both frozen dataclasses)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    def __post_init__(self) -> None:
        hints = get_type_hints(type(self))
        for f in fields(self):
            value = _check(f, hints[f.name], getattr(self, f.name))
            object.__setattr__(self, f.name, value)

    @classmethod
    def from_env(cls: type[S], env: Mapping[str, str] | None = None, **overrides: Any) -> S:
        """Build settings from the environment; an empty variable means its default, variables
        that are not declared are ignored, a bad value raises SettingError naming the variable."""
        env = os.environ if env is None else env
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(env_name(f))
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(f, hints[f.name], raw.strip())
        values.update(overrides)
        return cls(**values)

    def with_overrides(self: S, **overrides: Any) -> S:
        return replace(self, **overrides)


def _base_type(type_: Any) -> Any:
    """`int | None` -> int; anything else unchanged."""
    args = [a for a in getattr(type_, "__args__", ()) if a is not type(None)]
    if type(None) in getattr(type_, "__args__", ()) and len(args) == 1:
        return args[0]
    return type_


def _parse(f: Field[Any], type_: Any, raw: str) -> Any:
    """Turn one variable's text into a value of the field's type (the checks come after)."""
    name = env_name(f)
    base = _base_type(type_)
    origin = getattr(base, "__origin__", base)
    if base is bool:
        word = raw.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise SettingError(f"{name} must be on or off (1/true/yes/on or 0/false/no/off), not {raw!r}")
    if base is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingError(f"{name} must be a whole number, not {raw!r}") from None
    if base is float:
        try:
            return float(raw)
        except ValueError:
            raise SettingError(f"{name} must be a number, not {raw!r}") from None
    if origin is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if origin in (Mapping, dict):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise SettingError(f"{name} must be a JSON object: {exc}") from None
        if not isinstance(value, dict):
            raise SettingError(f"{name} must be a JSON object, not {type(value).__name__}")
        return value
    return raw


def _check(f: Field[Any], type_: Any, value: Any) -> Any:
    """Refuse a value outside the declared type, bounds or choices; normalise a choice's case."""
    name = env_name(f)
    if value is None:
        if type(None) in getattr(type_, "__args__", ()):
            return None
        raise SettingError(f"{name} must be set")
    base = _base_type(type_)
    if base is bool and not isinstance(value, bool):
        raise SettingError(f"{name} must be on or off, not {value!r}")
    if base in (int, float):
        wanted = int if base is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted):
            kind = "whole number" if base is int else "number"
            raise SettingError(f"{name} must be a {kind}, not {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise SettingError(f"{name} must be a finite number, not {value!r}")
        minimum, above = f.metadata.get("minimum"), f.metadata.get("above")
        if minimum is not None and value < minimum:
            raise SettingError(f"{name} must be at least {minimum:g}, not {value:g}")
        if above is not None and value <= above:
            raise SettingError(f"{name} must be more than {above:g}, not {value:g}")
    choices = f.metadata.get("choices")
    if choices:
        if not isinstance(value, str):
            raise SettingError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        for choice in choices:
            if value.strip().lower() == choice.lower():
                return choice
        raise SettingError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


@dataclass(frozen=True)
class Config(_Settings):
    """All application settings. Field name `x_y` is read from the variable `CDS_X_Y`."""

    data_dir: str = setting(
        default_factory=default_data_dir,
        shown_default="`~/.local/share/spasticity-cds` (`$XDG_DATA_HOME/spasticity-cds`)",
        doc="where the embedded SQLite database lives (`data`: the current folder)",
    )
    database_url: str = setting(
        "",
        shown_default="SQLite file in `CDS_DATA_DIR`",
        doc="SQLAlchemy URL, e.g. `postgresql+psycopg://user:pass@db/cds`",
    )
    auth: str = setting(
        "off",
        choices=("off", "jwt"),
        doc="`jwt` requires a CDS Hooks client JWT on every call (see Security)",
    )
    trusted_issuers: Mapping[str, Any] = setting(
        default_factory=dict,
        shown_default="`{}`",
        doc='JSON object: issuer → JWKS URL or local JWKS file, or → `{"jwks": URL or file, '
        '"jku": [accepted jku URLs], "fhirServers": [base-URL prefixes]}`',
    )
    trust_sandbox: bool = setting(False, doc="`on` trusts the CDS Hooks sandbox's pinned public key")
    base_url: str = setting(
        "http://127.0.0.1:8080", doc="public base URL (without `/cds-services`): JWT `aud` is built from it"
    )
    aud_aliases: tuple[str, ...] = setting((), doc="comma-separated other base URLs accepted in `aud`")
    jwt_algorithms: tuple[str, ...] = setting(
        ("ES384", "RS384"), doc="accepted JWT algorithms (ES256/RS256 may be added; never HS* or none)"
    )
    jwt_leeway: int = setting(5, minimum=0, doc="seconds of clock skew allowed on `exp`, `iat`, `nbf`")
    fhir_timeout: float = setting(3.0, above=0, doc="seconds for all FHIR fetching of one request")
    fhir_max_pages: int = setting(5, minimum=1, doc="`next` links followed per query")
    fhir_max_response_bytes: int = setting(10 * MiB, minimum=1, doc="largest FHIR response read")
    max_body_bytes: int = setting(5 * MiB, minimum=1, doc="largest request body (413 beyond)")
    max_json_depth: int = setting(64, minimum=1, doc="deepest JSON nesting accepted")
    max_draft_orders: int = setting(100, minimum=1, doc="most draft orders in one request")
    max_prefetch_entries: int = setting(10000, minimum=1, doc="most prefetched resources in one request")
    lab_lookback_days: int = setting(90, minimum=1, doc="look-back window for ALT, AST and eGFR (inclusive)")
    record_queue_max: int = setting(
        10000,
        minimum=1,
        doc="issued-card rows each worker buffers while the database is away (more are dropped and counted)",
    )
    cors_origins: str = setting("*", doc="allowed CORS origins: `*` or a comma-separated list")
    cors_private_network: bool = setting(
        False,
        doc="`on` answers Private Network Access preflights (`Access-Control-Allow-Private-Network: true`)",
    )
    fhir_servers: tuple[str, ...] = setting(
        (),
        shown_default="(none: any)",
        doc="comma-separated base-URL prefixes a request's `fhirServer` must start with; "
        "any other server is never contacted",
    )
    log_level: str = setting(
        "INFO",
        choices=LOG_LEVELS,
        doc="log level (also gunicorn's); logs are JSON lines, never tokens or patient data",
    )
    contract_states: bool = setting(False, doc="contract tests only: exposes the provider-state endpoint")
    admin: bool = setting(False, doc="`on` serves the governance pages under `/admin/`")
    admin_token: str = setting(
        "", secret=True, doc="bearer token for `/admin/` (needed, or a basic-auth pair, when auth is jwt)"
    )
    admin_user: str = setting("", doc="basic-auth user name for `/admin/`")
    admin_password: str = setting("", secret=True, doc="basic-auth password for `/admin/`")
    # Never twice (service/repeats.py, docs/CARD-STYLE.md): a card overridden for a draft order is
    # held back on the next call for the same patient and draft, within the encounter or the window.
    repeat_suppression: str = setting(
        "on",
        choices=("on", "off"),
        doc="`off`: show a card again even after the clinician overrode it for the same draft "
        "([card style](docs/CARD-STYLE.md#4-never-twice))",
    )
    repeat_secret: str = setting(
        "",
        secret=True,
        shown_default="generated in `CDS_DATA_DIR` (SQLite only)",
        doc="HMAC key for patient/draft hashes; **required with a shared database** (same value on "
        "every replica), else suppression is off",
    )
    repeat_window_hours: float = setting(
        12.0, above=0, doc="how long an override holds back its card when the hook has no `encounterId`"
    )
    repeat_timeout: float = setting(
        0.25, above=0, doc="seconds the hook waits for the suppression store before showing the card anyway"
    )
    repeat_freshness: float = setting(
        0.2,
        minimum=0,
        doc="seconds a worker may answer from its own view of the overrides before asking the store "
        "again (an override made through another worker or replica is seen within this time; one made "
        "through the same worker at once); past half this age a busy worker asks in the background, "
        "so its calls do not wait; `0` asks the store on every call",
    )

    @property
    def effective_database_url(self) -> str:
        return self.database_url or _default_database_url(self.data_dir)


@dataclass(frozen=True)
class ServerConfig(_Settings):
    """gunicorn's settings (service/gunicorn_conf.py), declared and checked like `Config`."""

    host: str = setting("0.0.0.0", env="HOST", doc="listen address (`serve` defaults to `127.0.0.1`)")
    port: int = setting(8080, minimum=1, env="PORT", doc="listen port")
    workers: int | None = setting(
        None,
        minimum=1,
        shown_default="2 x CPUs + 1, at most 8",
        doc="gunicorn worker processes; CPUs honour cgroup limits (`serve --workers` sets it)",
    )
    threads: int = setting(
        4,
        minimum=1,
        doc="threads per worker: FHIR fallback fetches wait on the network in them; where the EHR "
        "always sends complete prefetch, 2 shortens the latency tail (benchmarks/RESULTS.md)",
    )
    worker_timeout: int = setting(30, minimum=1, doc="seconds before a stuck worker is killed and replaced")
    graceful_timeout: int = setting(25, minimum=1, doc="seconds in-flight requests get after SIGTERM")
    keepalive: int = setting(
        5, minimum=1, doc="seconds an idle keep-alive connection (from the proxy) is kept"
    )
    client_timeout: int = setting(
        10, minimum=1, doc="seconds a client socket may stay silent while gunicorn reads a request"
    )
    access_log: str = setting(
        "off",
        doc="gunicorn's JSON access line: `off`, `-` (stdout) or a file; the app logs each request itself",
    )
    log_level: str = setting(
        "INFO", choices=LOG_LEVELS, doc="gunicorn's log level (the same variable as the app's)"
    )

    @property
    def access_log_target(self) -> str | None:
        """None (off) or where gunicorn writes its access line."""
        value = self.access_log.strip()
        return None if value.lower() in {"off", "none", "false", "0", ""} else value


# Variables read outside these two classes, documented in the same table.
OTHER_VARIABLES: tuple[tuple[str, str, str], ...] = (
    (
        "CDS_COMMIT",
        "from git",
        "commit reported by `/version` in images built without `.git` (service/version.py)",
    ),
    (
        "PROMETHEUS_MULTIPROC_DIR",
        "unset (`serve` makes one per run)",
        "metrics files shared by the workers; emptied at start",
    ),
)


def _shown_default(f: Field[Any]) -> str:
    if f.metadata.get("shown_default"):
        return str(f.metadata["shown_default"])
    value = f.default
    if isinstance(value, bool):
        text = "on" if value else "off"
    elif isinstance(value, tuple):
        text = ",".join(value)
        if not text:
            return "(none)"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    return f"`{text}`" if text else "(empty)"


def _meaning(f: Field[Any]) -> str:
    doc = str(f.metadata["doc"])
    if f.metadata.get("choices"):
        doc += f" (one of: {', '.join(f.metadata['choices'])})"
    minimum, above = f.metadata.get("minimum"), f.metadata.get("above")
    if minimum is not None:
        doc += f"; at least {minimum:g}"
    if above is not None:
        doc += f"; more than {above:g}"
    return doc


def settings_markdown() -> str:
    """The README's settings table, generated from the declarations above."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    seen: set[str] = set()
    for cls in (Config, ServerConfig):
        for f in fields(cls):
            name = env_name(f)
            if name in seen:
                continue
            seen.add(name)
            lines.append(f"| `{name}` | {_shown_default(f)} | {_meaning(f)} |")
    for name, default, doc in OTHER_VARIABLES:
        lines.append(f"| `{name}` | {default} | {doc} |")
    lines.append("")
    lines.append(
        "Booleans take `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`; any other value, a number out of "
        "bounds or an unknown choice stops start-up with a message naming the variable."
    )
    return "\n".join(lines)


def readme_with_settings(readme: str) -> str:
    """`readme` with the text between the settings markers replaced by `settings_markdown()`."""
    head, start, rest = readme.partition(README_START)
    _, end, tail = rest.partition(README_END)
    if not start or not end:
        raise ValueError("README.md lacks the settings markers")
    return f"{head}{README_START}\n{settings_markdown()}\n{README_END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m spasticity_cds.config [--write-readme [PATH]]`: print or rewrite the settings table."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--write-readme":
        path = Path(args[1] if len(args) > 1 else "README.md")
        path.write_text(readme_with_settings(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    print(settings_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
