"""Secrets out of messages: a URL or DSN is shown without its user-info or password-like parameters.

A sink DSN, a Grafana URL or a broker address can carry a secret where it does not belong
(``clickhouse://u:PW@host``, ``https://host/scout?password=PW``, ``http://admin:PW@grafana``). Every
message that names such an address shows :func:`redact_url` of it.

>>> redact_url("https://u:hunter2@ch.example:8443/scout?password=hunter2&database=scout")
'https://***@ch.example:8443/scout?password=***&database=scout'
>>> redact_url("chdb:///var/lib/scout")
'chdb:///var/lib/scout'
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

#: Query parameters whose value is a secret (case-insensitive, anywhere in the name).
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|sig|auth|credential", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its whole user-info and the values of password-like query parameters as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an address that cannot be parsed>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    host, colon, port = netloc.rpartition(":")
    if colon and "]" not in port and not port.isdigit():  # "host:PW" is a password typed where a port goes
        netloc = f"{host}:***"
    query = "&".join(
        f"{name}=***" if sep and _SECRET_PARAM.search(name) else f"{name}{sep}{value}"
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
