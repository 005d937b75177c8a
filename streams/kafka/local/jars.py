"""Assemble the Kafka broker's runtime jars from Maven Central, once, into a cache directory."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from pathlib import Path

from streams.errors import BrokerError, MissingToolError

# The one place the broker version is pinned. 4.4.0 is the newest 4.x on Maven Central here and
# faust-streaming 0.15 + aiokafka 0.14 pass this project's integration tests against it.
KAFKA_VERSION = "4.4.0"
# Kafka 4.x logs through slf4j 1.7 + log4j2; the binding is not a transitive dependency.
# It must match the log4j-core version that kafka_2.13 pulls in.
LOG4J_VERSION = "2.25.5"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.contactstream</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_COMPLETE_MARKER = ".complete"


def require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingToolError(f"'{name}' is not installed or not on PATH: {hint}")
    return path


def jars_dir(cache_root: Path, version: str = KAFKA_VERSION) -> Path:
    return cache_root / f"kafka-{version}-jars"


def ensure_jars(cache_root: Path, version: str = KAFKA_VERSION) -> tuple[Path, bool]:
    """Return (directory of jars, whether anything was downloaded). Cached after the first call.

    Two brokers started at once on a fresh cache (parallel test processes, two terminals) must
    not assemble the same directory together: the download holds a lock file in the cache."""
    target = jars_dir(cache_root, version)
    if (target / _COMPLETE_MARKER).exists():
        return target, False
    cache_root.mkdir(parents=True, exist_ok=True)
    with (cache_root / f".kafka-{version}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (target / _COMPLETE_MARKER).exists():  # assembled by whoever held the lock
            return target, False
        return _download(target, version), True


def _download(target: Path, version: str) -> Path:
    mvn = require_tool("mvn", "install Apache Maven 3.6+ (e.g. apt-get install maven)")
    require_tool("java", "install a JDK 17+ (e.g. apt-get install openjdk-17-jre-headless)")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="contactstream-pom-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION))
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        detail = _last_error_line(result.stdout + result.stderr)
        raise BrokerError(f"downloading Kafka {version} jars with Maven failed: {detail}")
    (staging / _COMPLETE_MARKER).write_text(version)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if "ERROR" in line]
    return lines[0][:300] if lines else "no output (is Maven Central reachable?)"
