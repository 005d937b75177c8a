"""Optional parts of the package and the one-line error when one is not installed.

The core package runs a worker against a ClickHouse server. Two extras add the rest:

- `embedded`: chDB, the in-process ClickHouse engine behind `chdb://` DSNs (the local default)
  and `contactstream analyst query`;
- `demo`: matplotlib, for the chart of the demo's report.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Final, Literal

from streams.errors import MissingExtraError

if TYPE_CHECKING:
    from streams.config import Settings

Extra = Literal["embedded", "demo"]

MODULES: Final[dict[Extra, str]] = {"embedded": "chdb", "demo": "matplotlib"}
"""The module each extra brings, imported to tell whether the extra is installed."""


def install_hint(extra: Extra) -> str:
    return f"pip install 'contactstream[{extra}]'"


def require(extra: Extra, what: str, alternative: str = "", *, importing: bool = True) -> None:
    """Raise MissingExtraError naming `what` needs `extra` unless its module imports.

    Importing is the test (not a look-up of the module spec), so a module that an earlier
    import attempt found missing is reported the same way. With `importing=False` the spec is
    looked up instead (None for such a module too), for a process that leaves the import to a
    child it starts (`analyst query`: chDB is loaded once, in the sandboxed child, which
    imports it then).
    """
    module = MODULES[extra]
    suffix = f"; {alternative}" if alternative else ""
    missing = MissingExtraError(f"{what} needs the {extra} extra: {install_hint(extra)}{suffix}")
    if not importing:
        if importlib.util.find_spec(module) is None:
            raise missing
        return
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name != module and not exc.name.startswith(module + "."):
            raise  # the extra is there but one of its own dependencies is not: a broken install
        raise missing from None


def require_embedded_engine(settings: Settings) -> None:
    """A `chdb://` DSN needs chDB; a server DSN needs nothing more."""
    if settings.is_embedded:
        require(
            "embedded",
            "a chdb:// ClickHouse DSN (CONTACTSTREAM_CLICKHOUSE_DSN; chdb:// is the default)",
            "or set CONTACTSTREAM_CLICKHOUSE_DSN to a ClickHouse server (http(s)://...)",
        )
