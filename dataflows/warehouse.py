"""ClickHouse access: DSN resolution, migrations, inserts with safe retries.

The embedded default is chDB through clickhouse-connect
(``chdb:///abs/path``). A relative ``chdb://./dir`` means ``dir`` under the
working directory and is resolved here (clickhouse-connect would read it as
location ``.`` and database ``dir``). Server DSNs (``http(s)://host[:port]/db``)
are taken apart here and TLS follows the *scheme* — clickhouse-connect alone
would decide it by port and could send the password in clear.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
import structlog
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, OperationalError
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_delay, wait_exponential

from dataflows.config import ConnectOptions
from dataflows.errors import Exit, ScoutError
from dataflows.redact import redact_url
from dataflows.tables import COLUMNS

log = structlog.get_logger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class WarehouseError(ScoutError, RuntimeError):
    """The warehouse cannot be used or refused a write that retrying cannot fix.

    The CLI turns it into one message and exit code 4 (see README)."""

    exit_code, label = Exit.WAREHOUSE, "warehouse error"


def quote_identifier(identifier: str) -> str:
    r"""Quote a ClickHouse identifier (backticks; backslash and backtick escaped).

    >>> quote_identifier("gold_brand_performance"), quote_identifier("we`ird")
    ('`gold_brand_performance`', '`we\\`ird`')
    """
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def resolve_dsn(dsn: str, cwd: Path | None = None) -> str:
    """Make a chDB DSN absolute; leave server DSNs alone.

    >>> resolve_dsn("chdb://./.scout/ch", Path("/srv/app"))
    'chdb:///srv/app/.scout/ch'
    >>> resolve_dsn("chdb:///var/lib/scout")
    'chdb:///var/lib/scout'
    >>> resolve_dsn("https://ch.example:8443/scout")
    'https://ch.example:8443/scout'
    """
    if not dsn.startswith("chdb://"):
        return dsn
    rest = dsn[len("chdb://") :]
    if rest.startswith("/"):
        return dsn
    base = cwd or Path.cwd()
    return "chdb://" + str((base / rest).resolve())


def chdb_path(dsn: str) -> Path | None:
    """The data directory of a chDB DSN, or None for a server."""
    resolved = resolve_dsn(dsn)
    return Path(resolved[len("chdb://") :]) if resolved.startswith("chdb://") else None


@dataclass(frozen=True)
class ServerAddress:
    """A server DSN taken apart: TLS follows the *scheme*, whatever the port."""

    secure: bool
    host: str
    port: int
    database: str

    @classmethod
    def parse(cls, dsn: str) -> ServerAddress:
        """
        >>> ServerAddress.parse("https://ch.example/scout")
        ServerAddress(secure=True, host='ch.example', port=8443, database='scout')
        >>> ServerAddress.parse("https://ch.example:9440/scout").secure
        True
        >>> ServerAddress.parse("http://localhost:8123")
        ServerAddress(secure=False, host='localhost', port=8123, database='default')
        """
        shown = redact_url(dsn)  # never a password in a message
        try:
            url = urlsplit(dsn)
        except ValueError as exc:
            raise WarehouseError(f"the sink {shown!r} is not a URL: {exc}") from exc
        if url.scheme not in ("http", "https"):
            raise WarehouseError(f"unsupported sink {shown!r}: expected chdb:///path, http://… or https://…")
        if url.password is not None or url.username is not None:
            raise WarehouseError(
                "the sink DSN must not hold credentials: set SCOUT_CLICKHOUSE_USER and "
                "SCOUT_CLICKHOUSE_PASSWORD (or SCOUT_CLICKHOUSE_PASSWORD_FILE)"
            )
        if url.query or url.fragment:
            raise WarehouseError(f"the sink DSN takes no query or fragment: {shown!r}")
        if not url.hostname:
            raise WarehouseError(f"the sink DSN names no host: {shown!r}")
        secure = url.scheme == "https"
        try:
            port = url.port or (8443 if secure else 8123)
        except ValueError as exc:
            raise WarehouseError(f"bad port in sink DSN {shown!r}") from exc
        database = url.path.strip("/") or "default"
        return cls(secure, url.hostname, port, database)

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def __str__(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}/{self.database}"


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address: where a secret may go over plain http (the ClickHouse
    password here, the Grafana token in ``grafana.push``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: chDB directories this process holds, with the open lock file (held for the process's life).
_HELD: dict[Path, int] = {}
_LOCK_FILE = ".scout.lock"


def _hold_chdb(path: Path) -> bool:
    """Take this process's exclusive hold on a chDB directory; False if another process has it.

    chDB allows one process per data directory but does not always refuse a second one
    (its ``status`` lock is not taken on every open), so every ``scout`` process flocks
    ``.scout.lock`` in the directory as well; the lock goes with the process.
    """
    if path in _HELD:
        return True
    status = path / "status"
    if status.is_file():  # ClickHouse's own lock, when it holds one
        fd = os.open(status, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)  # closing releases the lock we took
    fd = os.open(path / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _HELD[path] = fd
    return True


#: Seconds to wait for another process's hold on a chDB directory to go before giving up (exit 4).
CHDB_LOCK_WAIT_S = 5.0


def _wait_for_chdb(path: Path) -> bool:
    """Take the hold, waiting up to :data:`CHDB_LOCK_WAIT_S` for a process that is going away (the
    writer of a run killed a moment ago dies with it, and the kernel frees its lock as it exits)."""
    deadline = time.monotonic() + CHDB_LOCK_WAIT_S
    while not _hold_chdb(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _open_chdb(path: Path, create: bool) -> Client:
    if path.exists() and not path.is_dir():
        raise WarehouseError(f"the sink {path} is a file, not a chDB directory")
    if not path.exists():
        if not create:
            raise WarehouseError(f"no warehouse at {path}: run `scout db migrate --sink chdb://{path}` first")
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create the warehouse directory {path}: {exc.strerror}") from exc
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise WarehouseError(f"the warehouse directory {path} is not readable and writable by this user")
    if not _wait_for_chdb(path):
        raise WarehouseError(
            f"the warehouse {path} is open in another process (chDB allows one process per data directory)"
        )
    try:
        return clickhouse_connect.get_client(dsn=f"chdb://{path}")
    except ClickHouseError as exc:
        raise WarehouseError(f"cannot open the chDB warehouse at {path}: {exc}") from exc


def connect(
    dsn: str,
    user: str | None = None,
    password: str | None = None,
    options: ConnectOptions | None = None,
    create: bool = False,
) -> Client:
    """A clickhouse-connect client for a DSN (chDB or server).

    ``create``: make a missing chDB directory (commands that write); read-only
    commands refuse a missing one instead of creating a mistyped path. Every
    failure to reach the warehouse is a :class:`WarehouseError` with one clear
    sentence; the password is never part of it.
    """
    options = options or ConnectOptions()
    path = chdb_path(dsn)
    if path is not None:
        return _open_chdb(path, create)
    addr = ServerAddress.parse(dsn)
    if password and not addr.secure and not addr.is_loopback and not options.allow_plaintext_password:
        raise WarehouseError(
            f"refusing to send the ClickHouse password in clear text to {addr.host}: use an https:// sink "
            "(or set clickhouse_allow_plaintext_password if the network is trusted)"
        )
    kwargs: dict[str, Any] = {
        "host": addr.host,
        "port": addr.port,
        "database": addr.database,
        "interface": "https" if addr.secure else "http",
        "secure": addr.secure,
        "connect_timeout": options.connect_timeout_s,
        "send_receive_timeout": options.send_receive_timeout_s,
    }
    if addr.secure:
        kwargs["verify"] = options.verify_tls
        if options.ca_cert is not None:
            kwargs["ca_cert"] = str(options.ca_cert)
    if user:
        kwargs["username"] = user
    if password:
        kwargs["password"] = password
    try:
        return clickhouse_connect.get_client(**kwargs)
    except ClickHouseError as exc:
        raise WarehouseError(f"cannot connect to ClickHouse at {addr}: {_first_line(exc)}") from exc


@dataclass(frozen=True)
class ClientSpec:
    """How to open the warehouse, as a picklable value (a writer process opens it with this).

    The password is kept out of ``repr`` so it is never logged."""

    dsn: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    options: ConnectOptions | None = None
    create: bool = False

    def __call__(self) -> Client:
        return connect(self.dsn, self.user, self.password, self.options, create=self.create)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def require_schema(client: Client, dsn: str) -> None:
    """Raise :class:`WarehouseError` unless the warehouse has been migrated."""
    if client.command("EXISTS TABLE schema_migrations") != 1:
        raise WarehouseError(f"the warehouse {dsn} has no scout tables: run `scout db migrate --sink {dsn}` first")


def pending_migrations(client: Client, directory: Path | None = None) -> list[str]:
    """The migrations not applied to the warehouse yet (``0010_device_clock_skew``, …)."""
    known = load_migrations(directory)
    applied: set[int] = set()
    if client.command("EXISTS TABLE schema_migrations") == 1:
        applied = {
            int(version) for (version,) in client.query("SELECT DISTINCT version FROM schema_migrations").result_rows
        }
    return [m.name for m in known if m.version not in applied]


# -- migrations ----------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def once(self) -> bool:
        """A migration marked ``-- apply: once`` (not idempotent: a table rebuild) runs only
        if it is not recorded yet; every other migration is re-run (its statements are idempotent)."""
        return any(line.strip() == "-- apply: once" for line in self.sql.splitlines()[:5])

    def statements(self) -> list[str]:
        """Split on ``;`` at line ends; comments are dropped."""
        body = "\n".join(line for line in self.sql.splitlines() if not line.strip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def sql_dir(name: str) -> Path:
    """``clickhouse/<name>`` in a checkout, or its copy inside the wheel."""
    packaged = Path(str(resources.files("dataflows"))) / "_sql" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / "clickhouse" / name


def migrations_dir() -> Path:
    return sql_dir("migrations")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if not m:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append(Migration(int(m.group(1)), path.stem, path.read_text("utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {directory}")
    return found


def migrate(client: Client, directory: Path | None = None, day_timezone: str | None = None) -> list[str]:
    """Apply every migration (each statement is idempotent, or the migration is
    ``-- apply: once`` and skipped once recorded); record them. With ``day_timezone``,
    then record it as the warehouse's, or refuse it if the warehouse has another
    (:func:`claim_day_timezone`).

    Returns the names newly recorded. A recorded migration whose file changed
    since is reported (its statements are still re-run: they are idempotent).
    """
    applied: dict[int, str] = {}
    if client.command("EXISTS TABLE schema_migrations") == 1:
        rows = client.query("SELECT version, argMax(checksum, applied_at) FROM schema_migrations GROUP BY version")
        applied = {int(v): str(c) for v, c in rows.result_rows}
    new: list[str] = []
    for mig in load_migrations(directory):
        if mig.once and mig.version in applied:
            if applied[mig.version] != mig.checksum:
                log.warning("a run-once migration changed since it was applied; not re-run", migration=mig.name)
            continue
        for stmt in mig.statements():
            client.command(stmt)
        if applied.get(mig.version) == mig.checksum:
            continue
        if mig.version in applied:
            log.warning("migration changed since it was applied", migration=mig.name)
        client.insert(
            "schema_migrations",
            [[mig.version, mig.name, mig.checksum]],
            column_names=["version", "name", "checksum"],
        )
        new.append(mig.name)
    if day_timezone is not None:
        claim_day_timezone(client, day_timezone)
    return new


def recorded_day_timezone(client: Client) -> str | None:
    """The ``day_timezone`` the warehouse was built with (None before any run recorded one)."""
    if client.command("EXISTS TABLE warehouse_settings") != 1:
        return None
    rows = client.query(
        "SELECT argMin(value, recorded_at) FROM warehouse_settings WHERE name = 'day_timezone' HAVING count() > 0"
    ).result_rows
    return str(rows[0][0]) if rows else None


def claim_day_timezone(client: Client, zone: str) -> None:
    """Record ``zone`` as the warehouse's ``day_timezone``, or refuse it if another is recorded."""
    recorded = recorded_day_timezone(client)
    if recorded is None:
        client.insert("warehouse_settings", [["day_timezone", zone]], column_names=["name", "value"])
    elif recorded != zone:
        raise WarehouseError(
            f"the warehouse was built with day_timezone {recorded!r}, not {zone!r}: gold days of two zones "
            f"would mix; configure day_timezone = {recorded!r}, or use another warehouse"
        )


# -- inserts -------------------------------------------------------------------


def dedup_token() -> str:
    """A fresh token naming one insert block: every retry of that block reuses
    it, so ClickHouse drops a repeat of a block that had in fact landed."""
    return uuid.uuid4().hex


#: ClickHouse error codes worth retrying with the same block: the server is busy, a
#: replica or the network blinked. Everything else (a value that does not fit its
#: column, an unknown table, a full disk, a read-only user) fails the same way again.
TRANSIENT_CODES = frozenset({
    3,    # UNEXPECTED_END_OF_FILE
    159,  # TIMEOUT_EXCEEDED
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY (replica lost its keeper session)
    252,  # TOO_MANY_PARTS
    285,  # TOO_FEW_LIVE_REPLICAS
    319,  # UNKNOWN_STATUS_OF_INSERT
    425,  # SYSTEM_ERROR
    999,  # KEEPER_EXCEPTION
})  # fmt: skip


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same insert may succeed.

    >>> from clickhouse_connect.driver.exceptions import DataError, DatabaseError, OperationalError
    >>> is_transient(OperationalError("connection reset")), is_transient(DatabaseError("x", code=252))
    (True, True)
    >>> is_transient(DataError("value does not fit")), is_transient(DatabaseError("x", code=243))
    (False, False)
    """
    if isinstance(exc, OperationalError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DatabaseError):
        return getattr(exc, "code", None) in TRANSIENT_CODES
    return False


#: How long an insert that fails with a transient error is retried before the run stops (exit 4):
#: a ClickHouse restart or a network outage of this long is waited out, the dataflow held still meanwhile
#: (backpressure: nothing is read while its rows cannot be written). A stopped run resumes exactly.
INSERT_RETRY_S = 120.0


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    log.warning("insert failed; retrying", attempt=state.attempt_number, error=_first_line(exc) if exc else "")


#: Transient errors only, for up to :data:`INSERT_RETRY_S`, with the same deduplication token.
_insert_retry = retry(
    retry=retry_if_exception(is_transient),
    wait=wait_exponential(multiplier=0.2, max=10),
    stop=stop_after_delay(INSERT_RETRY_S),
    before_sleep=_log_retry,
    reraise=True,
)


@_insert_retry
def insert_rows(
    client: Client,
    table: str,
    rows: Sequence[Sequence[object]],
    token: str | None = None,
    column_names: Sequence[str] | None = None,
) -> None:
    """Insert rows in :data:`~dataflows.tables.COLUMNS` order (or ``column_names``), retrying transient
    errors (only those, for up to :data:`INSERT_RETRY_S`) with the same deduplication token."""
    settings = {"insert_deduplication_token": token} if token else None
    client.insert(table, rows, column_names=list(column_names or COLUMNS[table]), settings=settings)


@_insert_retry
def insert_arrow(client: Client, table: str, arrow_table: Any, token: str | None = None) -> None:
    """Insert an Arrow table (its columns named as the table's), retrying as :func:`insert_rows` does."""
    settings = {"insert_deduplication_token": token} if token else None
    client.insert_arrow(table, arrow_table, settings=settings)
