"""The process that runs one analyst query, in a sandbox that cannot touch the file system
beyond reading the snapshots (`contactstream analyst query`, docs/analysts.md).

`streams.analyst.snapshots.query_snapshots` starts `python -I -m streams.analyst.sandbox` with an
empty
environment (but TZ), a private scratch directory as its working and temporary directory, and the
request on stdin (never on a command line, where other users see it). This process enters a
Landlock sandbox (streams/analyst/landlock.py) *before* it imports chDB, which starts threads on
import: Landlock binds only the threads started after it. From then on it may read the snapshot
directory, the Python installation and the system libraries, read and write its scratch
directory (the in-memory engine keeps a working directory there; the parent deletes it), and
nothing else; no TCP connection either. Then it loads the snapshots of the round it is given
(streams/analyst/snapshots.py: every file of one round's view) into memory tables, makes the session
read-only and runs the query.

Exit status: 0, the result on stdout; 1, the engine refused the query (its message on stdout,
shown to the analyst: streams.analyst.snapshots.sandbox_answer); 2, a one-line message for the user
on stdout.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Final

from streams.analyst.landlock import restrict
from streams.errors import ConfigError
from streams.extras import require

SYSTEM_LIBRARIES: Final = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
"""Where the dynamic loader finds the C libraries chDB links (libc, libm, librt, ...)."""
ENGINE_NEEDS: Final = (
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/usr/share/zoneinfo",
    "/proc/self",
    "/sys/fs/cgroup",
)
"""The loader's cache; the local time zone and the time zone database (times shown as outside
the sandbox); the process's own /proc entries (glibc's pthread_getattr_np reads its memory map
when chDB starts, and chDB crashes with a TZ set when it cannot read its threads' entries: its
environment there holds PATH, TMPDIR and TZ only); the memory limits (cgroups)."""


def python_roots() -> list[Path]:
    """The import path inside the Python installation (standard library, site-packages), and
    chDB's own directory; never the working directory or a directory added by PYTHONPATH."""
    prefixes = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    roots = [
        Path(entry)
        for entry in sys.path
        if entry and any(Path(entry).is_relative_to(prefix) for prefix in prefixes)
    ]
    spec = importlib.util.find_spec("chdb")
    if spec is not None and spec.origin is not None:
        roots.append(Path(spec.origin).parent.parent)
    return roots


def readable_paths(directory: Path) -> list[Path]:
    """What the sandbox may read. Refuses a data directory (the snapshots' parent, holding the
    chDB store and keys) inside one of them: the sandbox would expose it."""
    others = [*python_roots(), *map(Path, SYSTEM_LIBRARIES + ENGINE_NEEDS)]
    others = [path for path in others if path.exists()]
    data = directory.resolve().parent
    for path in others:
        if data.is_relative_to(path.resolve()):
            raise ConfigError(
                f"the data directory {data} is inside {path}, which the analyst query's "
                "sandbox must read: move CONTACTSTREAM_DATA_DIR elsewhere"
            )
    return [directory, *others]


def load_and_query(request: dict[str, Any]) -> bytes:
    """In the sandbox: the snapshots as memory tables, then the analyst's SQL, read-only."""
    require("embedded", "contactstream analyst query")
    from chdb import session

    files = Path(request["directory"]) / "rounds" / request["round"]
    engine: Any = session.Session()  # type: ignore[no-untyped-call]  # chdb is untyped
    try:
        for view in request["views"]:  # a round's files never change: a glob reads them whole
            path = str(files / view / "*.parquet").replace("'", "\\'")
            engine.query(
                f"CREATE TABLE {view} ENGINE = Memory AS SELECT * FROM file('{path}', Parquet)"
            )
        engine.query("SET readonly = 1")  # a second layer: no writes, no settings changed
        return bytes(engine.query(request["sql"], request["format"]).bytes())
    finally:
        engine.close()


def main() -> int:
    request = json.loads(sys.stdin.buffer.read())
    try:
        restrict(readable_paths(Path(request["directory"])), [Path.cwd()])
        result = load_and_query(request)
    except ConfigError as exc:
        sys.stdout.write(str(exc))
        return 2
    except Exception as exc:  # the engine's refusal, for the parent to show
        sys.stdout.write(str(exc))
        return 1
    sys.stdout.buffer.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
