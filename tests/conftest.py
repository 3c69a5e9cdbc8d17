"""Fixtures: a fresh migrated database per test, the demo network with real keys, the hub's app
over an in-process transport or over real HTTP on loopback, and a clock the test controls."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import time_machine
from fastapi.testclient import TestClient
from nacl.signing import VerifyKey
from sqlalchemy import Engine, create_engine, func, text
from sqlmodel import Session, select

from connectors.config import load_config
from connectors.recipient.pull import load_keys
from hub.cli.demo import provision_demo
from hub.crypto import open_packet, verify_envelope
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.keyring import create_hub_keys
from hub.settings import Settings
from hub.store import DeliveryRow, ReportRow, make_engine, upgrade
from keys import KeySet, PublicKeySet, load_keyset, load_public_keyset, read_passphrase
from schemas.envelope import PACKET_TYPE, Envelope, PacketBody
from schemas.report import Report
from tests.clock import DATE_VARIABLE, DEFAULT, HOUR, move_clock, suite_date
from tests.factories import copies_at_once_policy
from tests.postgres import PostgresServer

ROOT = Path(__file__).resolve().parent.parent


ENGINES = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated database engines to run the suite on (default: both)",
    )
    parser.addoption("--fault-reports", type=int, default=150, help="reports per fault test")
    parser.addoption("--fault-kills", type=int, default=3, help="SIGKILLs of the hub per run")
    parser.addoption(
        "--suite-date",
        default=os.environ.get(DATE_VARIABLE),
        help=f"the date the suite's clock runs on (ISO date or a name of tests/clock.py; "
        f"default ${DATE_VARIABLE}, else {DEFAULT})",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Move the process clock to the suite's date before any test runs (tests/clock.py)."""
    try:
        day = suite_date(config.getoption("suite_date"))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[SUITE_CLOCK] = move_clock(datetime.combine(day, HOUR))


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(SUITE_CLOCK, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config: pytest.Config) -> str:
    return f"suite clock: {datetime.now(UTC):%A %Y-%m-%d %H:%M} UTC (tests/clock.py)"


SUITE_CLOCK = pytest.StashKey[time_machine.travel]()


FIGURES: list[dict[str, Any]] = []


@pytest.fixture
def fault_figures() -> list[dict[str, Any]]:
    """Figures a fault test measured; printed at the end of the run."""
    return FIGURES


SECURITY_FIGURES: dict[str, int] = {}


@pytest.fixture
def security_figures() -> dict[str, int]:
    """Counts the security tests add up (calls checked, cases generated, server errors);
    printed at the end of the run."""
    return SECURITY_FIGURES


ENGINE_RUNS: dict[str, dict[str, int]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count outcomes per database engine, from the engine in each test's id."""
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    engine = next(
        (e for e in ENGINES if f"[{e}" in report.nodeid or f"-{e}]" in report.nodeid), None
    )
    if engine is not None:
        counts = ENGINE_RUNS.setdefault(engine, {})
        counts[report.outcome] = counts.get(report.outcome, 0) + 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker of `pytest -n` (pytest-xdist) hands its figures to the controller, which prints
    them: tests run in the workers, the summary is written by the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["figures"] = json.dumps({"faults": FIGURES, "security": SECURITY_FIGURES})


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Add up the figures of a worker that finished (pytest-xdist's hook, on the controller)."""
    sent = getattr(node, "workeroutput", {}).get("figures")
    if sent is None:
        return
    figures = json.loads(sent)
    FIGURES.extend(figures["faults"])
    for name, value in figures["security"].items():
        SECURITY_FIGURES[name] = SECURITY_FIGURES.get(name, 0) + value


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ENGINE_RUNS:
        terminalreporter.section("database engines")
        for engine, counts in sorted(ENGINE_RUNS.items()):
            outcomes = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            terminalreporter.write_line(f"{engine}: {outcomes}")
    if FIGURES:
        terminalreporter.section("fault test figures")
        for figures in FIGURES:
            terminalreporter.write_line(", ".join(f"{k}={v}" for k, v in figures.items()))
    if SECURITY_FIGURES:
        terminalreporter.section("security figures")
        for name, value in sorted(SECURITY_FIGURES.items()):
            terminalreporter.write_line(f"{name}: {value}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that touches the database runs once per engine."""
    if "engine_name" in metafunc.fixturenames:
        engines = metafunc.config.getoption("engines").split(",")
        unknown = set(engines) - set(ENGINES)
        if unknown:
            raise pytest.UsageError(f"unknown engines: {sorted(unknown)}")
        metafunc.parametrize("engine_name", engines, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `engine("sqlite")` runs on the engines it names only: on the others it is
    deselected, not skipped, so a skip always means something is missing."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("engine")
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("engine_name") if callspec is not None else None
        wrong = marker is not None and engine is not None and engine not in marker.args
        (dropped if wrong else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def migrated_template(
    engine_name: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    """One database per engine, migrated from empty by Alembic; each test gets a copy of it.

    Made once per test session: pytest sets a parametrized session fixture up again each time
    the engine changes between tests, which under `pytest -n` (one file at a time) is often. Kept
    in the session's stash, not in the process: `make mutants` runs many sessions in one process
    (and its forks), and each one's temporary folders and PostgreSQL server end with it."""
    templates = request.config.stash.setdefault(TEMPLATES, {})
    if engine_name not in templates:
        templates[engine_name] = _migrated_template(engine_name, tmp_path_factory, request)
    return templates[engine_name]


TEMPLATES = pytest.StashKey[dict[str, str]]()


def _migrated_template(
    engine_name: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    if engine_name == "sqlite":
        path = tmp_path_factory.mktemp("template") / "hub.db"
        upgrade(f"sqlite:///{path}")
        return str(path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    admin_sql(server, "CREATE DATABASE hub_template")
    upgrade(server.url("hub_template"))
    return "hub_template"


def admin_sql(server: PostgresServer, statement: str) -> None:
    engine = create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


@pytest.fixture
def empty_database_url(engine_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new database with no tables at all."""
    if engine_name == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"e_{uuid4().hex}"
    admin_sql(server, f"CREATE DATABASE {name}")
    return server.url(name)


@pytest.fixture
def database_url(
    engine_name: str, migrated_template: str, tmp_path: Path, request: pytest.FixtureRequest
) -> str:
    """A fresh, migrated database for this test alone."""
    if engine_name == "sqlite":
        path = tmp_path / "hub.db"
        shutil.copyfile(migrated_template, path)
        return f"sqlite:///{path}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t_{uuid4().hex}"
    admin_sql(server, f"CREATE DATABASE {name} TEMPLATE {migrated_template}")
    return server.url(name)


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def copies_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deployed rules, every chosen section and police receiving at once (no triage first)."""
    return copies_at_once_policy(tmp_path_factory.mktemp("routing"))


@pytest.fixture
def routing_policy(copies_policy: Path) -> Path:
    """The routing policy of the test's hub. Tests of delivery, receipts and the audit log see
    every chosen recipient receive at intake; a module about each country's procedure (issue 14)
    overrides this fixture to return DEPLOYED_POLICY."""
    return copies_policy


@pytest.fixture
def settings(tmp_path: Path, database_url: str, routing_policy: Path) -> Settings:
    data_dir = tmp_path / "hub-data"
    data_dir.mkdir()
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        routing_policy=routing_policy,
    )
    create_hub_keys(settings)
    return settings


@dataclass
class Network:
    """The demo network as registered at the hub: every party's token and key files."""

    listing_path: Path
    listing: dict[str, list[dict[str, Any]]]

    def entry(self, party: str) -> dict[str, Any]:
        entries = self.listing["recipients"] + self.listing["sources"]
        return next(e for e in entries if e["id"] == party)

    def token(self, party: str) -> str:
        return Path(self.entry(party)["credential_file"]).read_text(encoding="utf-8").strip()

    def auth(self, party: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(party)}"}

    def keys(self, recipient: str) -> KeySet:
        entry = self.entry(recipient)
        passphrase = read_passphrase(Path(entry["passphrase_file"]))
        return load_keyset(Path(entry["keys_file"]), passphrase)

    def connector_config(self, recipient: str) -> Path:
        return Path(self.entry(recipient)["connector_config"])

    def hub_trust(self) -> dict[str, VerifyKey]:
        """The hub's public key as the parties have it, by key id."""
        public = load_public_keyset(self.listing_path.parent / "hub.pub.json")
        return {public.signing_key_id: public.signing}

    @property
    def recipient_ids(self) -> list[str]:
        return [e["id"] for e in self.listing["recipients"]]


def provision(
    settings: Settings, parties_dir: Path, hub_url: str, *, now: datetime | None = None
) -> Network:
    """The demo network registered at `now`: a hub on a test's clock must get the clock's time,
    or keys registered later on the process clock are not yet valid when the test reports."""
    path = provision_demo(settings, parties_dir, hub_url=hub_url, now=now)
    return Network(listing_path=path, listing=json.loads(path.read_text(encoding="utf-8")))


@pytest.fixture
def network(settings: Settings, tmp_path: Path) -> Network:
    """The demo network, its private material outside the hub's data folder."""
    return provision(settings, tmp_path / "parties", "http://127.0.0.1:9")


@pytest.fixture
def hub_public(settings: Settings) -> PublicKeySet:
    return load_public_keyset(settings.hub_public_key_file)


@pytest.fixture
def client(settings: Settings, network: Network, clock: Clock) -> Iterator[TestClient]:
    """The hub's app over an in-process transport, lifespan included.

    It is handed over once the background jobs' first rounds have ended: they write (the first
    signed tree head), and a test comparing stored rows must not see that write as its own.
    """
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        if settings.scheduler:
            started = app.state.hub.first_rounds.wait(60)
            assert started, "the hub's jobs did not end their first round"
        yield test_client


@dataclass
class LiveHub:
    url: str
    settings: Settings
    network: Network


@pytest.fixture
def live_hub(settings: Settings, tmp_path: Path) -> Iterator[LiveHub]:
    """The hub served over real HTTP on loopback, with the demo network pointed at it."""
    with serving(create_app(settings)) as url:
        network = provision(settings, tmp_path / "parties", url)
        yield LiveHub(url=url, settings=settings, network=network)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.resolved_database_url)
    yield engine
    engine.dispose()


def stored_counts(engine: Engine) -> tuple[int, int]:
    """How many reports and deliveries the hub holds."""
    with Session(engine) as session:
        reports = session.exec(select(func.count()).select_from(ReportRow)).one()
        deliveries = session.exec(select(func.count()).select_from(DeliveryRow)).one()
    return reports, deliveries


def opened_reports(config_path: Path) -> dict[str, Report]:
    """The reports a connector holds, opened in memory from its sealed packets."""
    config = load_config(config_path)
    keys = load_keys(config)
    opened: dict[str, Report] = {}
    for path in sorted((config.store_dir / "packets").glob("*.json")):
        envelope = Envelope.model_validate_json(path.read_bytes())
        body = PacketBody.model_validate_json(verify_envelope(envelope, PACKET_TYPE, keys.hub))
        packet = open_packet(
            envelope, hub_keys=keys.hub, private=keys.sealing[body.recipient_key_id]
        )
        opened[str(packet.report.report_id)] = packet.report
    return opened


def choose_readable_files(config_path: Path) -> None:
    """Turn write_readable_reports on in a connector's config, as a line that needs files does."""
    document = json.loads(config_path.read_text(encoding="utf-8"))
    config_path.write_text(json.dumps({**document, "write_readable_reports": True}))
