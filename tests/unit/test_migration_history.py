"""Released migrations never change: a database migrated by an earlier version records each
migration's checksum, and a worker refuses to start on one whose file differs (an edited
migration; tests/integration/test_migrations.py). A text edit as small as a comment naming a
moved module would stop every deployed worker, so each file's checksum is pinned here. A new
migration adds its line; an existing line never changes (write a new migration instead)."""

from __future__ import annotations

from streams.storage.migrations import load_migrations

RELEASED = {
    1: "fe643184e7308918",
    2: "a64da7dec2ccb473",
    3: "c067496017aad263",
    4: "82c27bfe8df6e182",
    5: "406739d93460aec7",
    6: "50f8a60718f3114d",
    7: "20cc3b66ededb565",
    8: "d9c9eb7ae4aabde0",
    9: "f3d062d157c25079",
    10: "df0828fe154e3143",
    11: "b1695d22598a07ec",
    12: "e0cd931a9ffa87b5",
}


def test_no_released_migration_changed_and_each_new_one_is_pinned() -> None:
    found = {migration.version: migration.checksum for migration in load_migrations()}
    changed = {v: found[v] for v, pinned in RELEASED.items() if found.get(v) != pinned}
    assert changed == {}, "released migrations must not change; write a new one instead"
    assert sorted(found) == sorted(RELEASED), "pin the checksum of each new migration here"
