"""ClickHouse access: one client factory, migrations, and the SQL each job needs."""

from streams.storage.client import classify, open_client, open_existing_client
from streams.storage.migrations import migrate

__all__ = ["classify", "migrate", "open_client", "open_existing_client"]
