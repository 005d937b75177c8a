"""Which ClickHouse failures are about the rows sent and which about the system (pure).

The failure rule (docs/operating.md): only a refusal of the *values* of a row sends that row to
the DLQ; everything else (down, disk full, read-only, permissions, memory, too many parts,
timeouts, a code we do not know) makes the batch wait, because storing valid events later is
always better than rerouting them. The lists are ClickHouse's own error codes (ErrorCodes.cpp).
"""

from __future__ import annotations

from typing import Final, Literal

FailureKind = Literal["event", "system", "operation"]

EVENT_CODES: Final[dict[int, str]] = {
    6: "CANNOT_PARSE_TEXT",
    27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    38: "CANNOT_PARSE_DATE",
    41: "CANNOT_PARSE_DATETIME",
    53: "TYPE_MISMATCH",
    69: "ARGUMENT_OUT_OF_BOUND",
    70: "CANNOT_CONVERT_TYPE",
    72: "CANNOT_PARSE_NUMBER",
    117: "INCORRECT_DATA",
    128: "TOO_LARGE_ARRAY_SIZE",
    131: "TOO_LARGE_STRING_SIZE",
    321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
    349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
    395: "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO",
    407: "DECIMAL_OVERFLOW",
    469: "VIOLATED_CONSTRAINT",
}
"""The values of the rows sent were refused: bisect the batch, dead-letter the refused rows."""

OPERATION_CODES: Final[dict[int, str]] = {
    16: "NO_SUCH_COLUMN_IN_TABLE",
    36: "BAD_ARGUMENTS",
    46: "UNKNOWN_FUNCTION",
    47: "UNKNOWN_IDENTIFIER",
    60: "UNKNOWN_TABLE",
    62: "SYNTAX_ERROR",
    81: "UNKNOWN_DATABASE",
    497: "ACCESS_DENIED",
    516: "AUTHENTICATION_FAILED",
}
"""The statement or the deployment is wrong (a migration, a grant, a password). A command
reports it and stops; the worker's batch waits (a system failure) until an operator fixes it."""

SYSTEM_EXAMPLES: Final[dict[int, str]] = {
    159: "TIMEOUT_EXCEEDED",
    202: "TOO_MANY_SIMULTANEOUS_QUERIES",
    209: "SOCKET_TIMEOUT",
    210: "NETWORK_ERROR",
    241: "MEMORY_LIMIT_EXCEEDED",
    242: "TABLE_IS_READ_ONLY",
    243: "NOT_ENOUGH_SPACE",
    252: "TOO_MANY_PARTS",
    425: "SYSTEM_ERROR",
    1001: "STD_EXCEPTION",
}
"""Some system failures by name, for the docs; any code in neither list above is one too."""


KNOWN_CODES: Final[dict[int, str]] = {**SYSTEM_EXAMPLES, **OPERATION_CODES, **EVENT_CODES}


def failure_kind(code: int | None) -> FailureKind:
    """'event' when ClickHouse refused the values sent, 'operation' when the statement or the
    deployment is wrong, else 'system' (including no code at all: the connection failed)."""
    if code in EVENT_CODES:
        return "event"
    if code in OPERATION_CODES:
        return "operation"
    return "system"
