"""Test child process: run the SQL statements (JSON list on stdin), print rows as JSON."""

import json
import sys

from streams.config import Settings
from streams.storage import open_client

client = open_client(Settings())
out = [[list(row) for row in client.query(sql).result_rows] for sql in json.loads(sys.stdin.read())]
print(json.dumps(out, default=str))
