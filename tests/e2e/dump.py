"""Run several read queries against one warehouse in one process (``python -m tests.e2e.dump SINK``).

Reads a JSON object ``{name: sql}`` on stdin, prints ``{name: [row as object, ...]}``: one chDB
start-up instead of one per query (each ``scout db query`` is a process of its own, ~1 s).
"""

from __future__ import annotations

import json
import sys

from dataflows.warehouse import connect


def main() -> None:
    queries: dict[str, str] = json.load(sys.stdin)
    client = connect(sys.argv[1])
    out = {}
    for name, sql in queries.items():
        result = client.query(sql, settings={"readonly": 1})
        out[name] = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
