"""The worker's checks and set-up, begun before its heavy imports.

`contactstream worker` spends about 1.4 s importing faust and the agents, and set-up (opening
the embedded engine, migrations, topics) takes 0.5 s on a restart and 1.3 s on a fresh data
directory, mostly in ClickHouse's C++ and on the network, outside the GIL. So the CLI checks
the configuration, then starts set-up in the background and imports the worker meanwhile;
`Setup.finish` waits for it and raises what it raised (the same one-line errors).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor

from streams.config import PLACEHOLDER_SALT, Settings
from streams.errors import ConfigError
from streams.extras import require_embedded_engine
from streams.files import require_private_data, use_private_umask
from streams.kafka.topics import EnsureReport, ensure_topics
from streams.observability.logs import setup_logging
from streams.storage.migrations import migrate
from streams.storage.store import Store
from streams.subjects.signing import verify_keys

log = logging.getLogger(__name__)


def check_secrets(settings: Settings) -> None:
    """Production refuses the placeholder salt and a short one (a known or guessed salt lets
    anyone reverse subject keys by trying every phone number: a Finnish mobile number falls in
    under a second) and needs the DPO's public key(s); dev mode allows all three."""
    if settings.mode != "dev":
        problem = salt_problem(settings.subject_key_salt.get_secret_value())
        if problem:
            raise ConfigError(
                f"CONTACTSTREAM_SUBJECT_KEY_SALT {problem}; set a random secret of at least "
                f"{MIN_SALT_CHARS} characters, e.g. from deploy/secrets/make-secrets.sh "
                "(or CONTACTSTREAM_MODE=dev on a test machine)"
            )
    verify_keys(settings)


MIN_SALT_CHARS = 32  # make-secrets.sh writes 32 random base64 characters (about 190 bits)


def salt_problem(salt: str) -> str | None:
    """What is wrong with a production salt, or None (pure; never says the salt itself)."""
    if salt == PLACEHOLDER_SALT:
        return "is the placeholder"
    if len(salt) < MIN_SALT_CHARS:
        return f"is {len(salt)} characters long"
    if len(set(salt)) < MIN_SALT_CHARS // 4:
        return f"repeats a few characters ({len(set(salt))} distinct)"
    return None


class Setup:
    """Checks done, logging set up, and (with `setup`) topics and migrations under way."""

    def __init__(self, settings: Settings, setup: bool) -> None:
        # The worker writes personal data under the data directory (chDB parts, the insert
        # spool, exports): private files, in a directory only its user can enter.
        use_private_umask()
        setup_logging(settings.log_level, settings.log_format)
        require_private_data(settings)
        check_secrets(settings)
        require_embedded_engine(settings)
        self.settings = settings
        self.store = Store(settings)
        self._pending = _InBackground(settings, self.store) if setup else None

    def finish(self) -> Store:
        """Wait for set-up; without it, check that the declared topics exist."""
        if self._pending is None:
            check_topics(self.settings)
        else:
            self._pending.wait()
        return self.store


def prepare(settings: Settings, store: Store) -> None:
    """Idempotent set-up at once: declared topics exist, ClickHouse schema is current."""
    _InBackground(settings, store).wait()


class _InBackground:
    """Kafka on a thread of its own, ClickHouse on the store's thread: both at once."""

    def __init__(self, settings: Settings, store: Store) -> None:
        kafka = ThreadPoolExecutor(max_workers=1, thread_name_prefix="setup")
        self._topics: Future[EnsureReport] = kafka.submit(asyncio.run, ensure_topics(settings))
        kafka.shutdown(wait=False)
        self._migrations = store.submit(lambda client: migrate(client, settings))

    def wait(self) -> None:
        """Raises what either raised; logs drift and the migrations applied."""
        report, applied = self._topics.result(), self._migrations.result()
        for line in report.drift:
            log.warning("topic drift: %s (run 'contactstream topics ensure --fix')", line)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))


def check_topics(settings: Settings) -> None:
    """Without set-up the declared topics must exist: faust would wait on a missing one silently."""
    report = asyncio.run(ensure_topics(settings, dry_run=True))
    if report.missing:
        raise ConfigError(
            f"topics missing: {', '.join(report.missing)}; run "
            "'contactstream topics ensure' (or start the worker with --setup)"
        )
