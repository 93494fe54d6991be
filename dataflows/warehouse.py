"""ClickHouse access: DSN resolution, migrations, inserts with safe retries.

The embedded default is chDB through clickhouse-connect
(``chdb:///abs/path``). A relative ``chdb://./dir`` means ``dir`` under the
working directory and is resolved here (clickhouse-connect would read it as
location ``.`` and database ``dir``). Server DSNs (``http(s)://…``) pass through.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import clickhouse_connect
import structlog
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from dataflows.tables import COLUMNS

log = structlog.get_logger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


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


def connect(dsn: str, user: str | None = None, password: str | None = None) -> Client:
    """A clickhouse-connect client for a DSN (chDB or server)."""
    resolved = resolve_dsn(dsn)
    path = chdb_path(resolved)
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if user:
        kwargs["username"] = user
    if password:
        kwargs["password"] = password
    return clickhouse_connect.get_client(dsn=resolved, **kwargs)


# -- migrations ----------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

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


def migrate(client: Client, directory: Path | None = None) -> list[str]:
    """Apply every migration (each statement is idempotent); record them.

    Returns the names newly recorded. A recorded migration whose file changed
    since is reported (its statements are still re-run: they are idempotent).
    """
    applied: dict[int, str] = {}
    if client.command("EXISTS TABLE schema_migrations") == 1:
        rows = client.query("SELECT version, argMax(checksum, applied_at) FROM schema_migrations GROUP BY version")
        applied = {int(v): str(c) for v, c in rows.result_rows}
    new: list[str] = []
    for mig in load_migrations(directory):
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
    return new


# -- inserts -------------------------------------------------------------------


def dedup_token() -> str:
    """A fresh token naming one insert block: every retry of that block reuses
    it, so ClickHouse drops a repeat of a block that had in fact landed."""
    return uuid.uuid4().hex


@retry(
    retry=retry_if_exception_type((ClickHouseError, OSError)),
    wait=wait_exponential(multiplier=0.2, max=10),
    stop=stop_after_attempt(6),
    reraise=True,
)
def insert_rows(client: Client, table: str, rows: list[tuple[object, ...]], token: str | None = None) -> None:
    """Insert rows in :data:`~dataflows.tables.COLUMNS` order, retrying on
    transient errors with the same deduplication token."""
    settings = {"insert_deduplication_token": token} if token else None
    client.insert(table, rows, column_names=list(COLUMNS[table]), settings=settings)
