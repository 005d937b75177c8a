"""docker-compose.yml, .env.example and docker/: checked against the code, since no Docker engine
runs here. The file parses; the services are there; every CONTACTSTREAM_* variable is a real
setting with a valid value; ports agree with the settings' defaults; every mounted or copied file
exists; images are pinned; every ${VAR} has an entry in .env.example; secrets stay out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import zipfile
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import yaml

from streams.cli.root import app
from streams.config import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "docker" / "Dockerfile"
GRAFANA_DOCKERFILE = REPO / "docker" / "grafana" / "Dockerfile"
INSTALL_PLUGIN = REPO / "docker" / "grafana" / "install-plugin.sh"
ROLES_SQL = REPO / "deploy" / "clickhouse" / "roles.sql"
GRAFANA_PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
MAKE_SECRETS = REPO / "deploy" / "secrets" / "make-secrets.sh"
KAFKA_START = REPO / "docker" / "kafka" / "start.sh"

SERVICES = {"kafka", "clickhouse", "clickhouse-init", "setup", "worker-1", "worker-2",
            "prometheus", "grafana"}
WORKERS = ("worker-1", "worker-2")
_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}")


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def environment(service: str) -> dict[str, str]:
    """A service's environment as written (with ${VAR} references)."""
    env = services()[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def interpolated(value: str) -> str:
    """`value` as compose would pass it with .env copied from .env.example."""
    example = env_example()
    return _INTERPOLATION.sub(lambda m: example[m[1]], value)


def env_example() -> dict[str, str]:
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def setting_name(variable: str) -> str:
    return variable.removeprefix("CONTACTSTREAM_").lower()


def default(field: str) -> Any:
    return Settings.model_fields[field].default


def test_compose_file_has_every_service() -> None:
    assert set(services()) >= SERVICES
    assert compose()["name"] == "contactstream"


def test_every_contactstream_variable_is_a_setting_with_a_valid_value() -> None:
    seen = 0
    for service in services():
        for name, value in environment(service).items():
            if not name.startswith("CONTACTSTREAM_"):
                continue
            seen += 1
            field = setting_name(name)
            assert field in Settings.model_fields, f"{service}: {name} is not a setting"
            # Raises when the value (with .env.example's values filled in) is invalid.
            Settings.model_validate({field: interpolated(value)})
    assert seen >= 10


def secrets_of(service: str) -> dict[str, str]:
    """target name in /run/secrets -> top-level secret, for one service."""
    found = {}
    for entry in services()[service].get("secrets", []):
        source = entry if isinstance(entry, str) else entry["source"]
        target = entry if isinstance(entry, str) else entry.get("target", source)
        found[target] = source
    return found


def test_workers_and_setup_share_one_configuration() -> None:
    env = environment("worker-1")
    assert environment("worker-2") == env
    # The same settings; only the Kafka principal differs: setup applies topics and ACLs as admin.
    assert {**environment("setup"), "CONTACTSTREAM_KAFKA_USERNAME": "worker"} == env
    assert environment("setup")["CONTACTSTREAM_KAFKA_USERNAME"] == "admin"
    assert env["CONTACTSTREAM_APP_ID"], "one consumer group for every worker"
    for name in ("CONTACTSTREAM_KAFKA_BOOTSTRAP", "CONTACTSTREAM_METRICS_PORT",
                 "CONTACTSTREAM_KAFKA_SECURITY_PROTOCOL", "CONTACTSTREAM_DPO_VERIFY_KEY_FILE"):
        assert name in env, name
    assert env["CONTACTSTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["CONTACTSTREAM_METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - compose sets it, inside its network
    for service in (*WORKERS, "setup"):
        names = secrets_of(service)
        # Read by Settings from /run/secrets (files named like the variable), not from env.
        for secret in ("contactstream_clickhouse_dsn", "contactstream_subject_key_salt",
                       "contactstream_kafka_password"):
            assert secret in names, (service, secret)
            assert secret.upper() not in environment(service), "a secret in the environment"
    assert secrets_of("worker-1")["contactstream_kafka_password"] == "kafka_worker_password"
    assert secrets_of("setup")["contactstream_kafka_password"] == "kafka_admin_password"


def test_every_secret_is_declared_and_made_by_the_script(tmp_path: Path) -> None:
    declared = compose()["secrets"]
    for service in services():
        assert set(secrets_of(service).values()) <= set(declared), service
    subprocess.run(["bash", str(MAKE_SECRETS), str(tmp_path / "secrets")], check=True,
                   capture_output=True, timeout=120)
    for name, secret in declared.items():
        made = tmp_path / secret["file"]
        assert made.is_file(), f"{name}: {secret['file']} not made"
        assert made.stat().st_size > 0, name


def test_workers_keep_exports_on_a_volume_and_have_a_healthcheck() -> None:
    for worker in WORKERS:
        service = services()[worker]
        assert "exports:/var/lib/contactstream/exports" in service["volumes"]
        # /healthz asks the event loop; /metrics answers from its own threads when it hangs.
        assert "9464/healthz" in " ".join(service["healthcheck"]["test"])
    assert "exports" in compose()["volumes"]


def test_ports_agree_with_the_settings_defaults() -> None:
    env = environment("worker-1")
    metrics_port = default("metrics_port")
    assert int(env["CONTACTSTREAM_METRICS_PORT"]) == metrics_port == 9464
    for worker in WORKERS:
        assert str(metrics_port) in [str(p) for p in services()[worker]["expose"]]
    kafka_port = int(default("kafka_bootstrap").rsplit(":", 1)[1])
    assert kafka_port == 9092
    host, port = env["CONTACTSTREAM_KAFKA_BOOTSTRAP"].split(":")
    assert (host, int(port)) == ("kafka", kafka_port)
    start = KAFKA_START.read_text()
    assert f"INTERNAL://kafka:{kafka_port}" in start
    assert "INTERNAL:SASL_SSL,HOST:SASL_SSL" in start
    # The host's clients use the default bootstrap 127.0.0.1:9092 too.
    published = [str(p) for p in services()["kafka"]["ports"]]
    assert any(p.startswith(f"127.0.0.1:{kafka_port}:19092") for p in published), published
    assert f"HOST://localhost:{kafka_port}" in start
    assert services()["kafka"]["command"] == ["bash", "/contactstream/start.sh"]


def test_prometheus_scrapes_every_worker_service() -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "contactstream-worker")
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{w}:{default('metrics_port')}" for w in WORKERS}
    for worker in WORKERS:
        assert services()[worker]["hostname"] == worker


def test_workers_start_after_setup_without_setting_up_again() -> None:
    for worker in WORKERS:
        service = services()[worker]
        assert service["command"] == ["contactstream", "worker", "--no-setup"]
        assert service["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    setup = " ".join(services()["setup"]["command"])
    assert "contactstream topics ensure" in setup
    assert "contactstream migrate" in setup
    worker_cmd = app.commands["worker"]
    assert any("--no-setup" in p.secondary_opts for p in worker_cmd.params if p.name == "setup")
    assert "migrate" in app.commands
    topics = app.commands["topics"]
    assert "ensure" in getattr(topics, "commands", {})


def test_every_mounted_file_exists() -> None:
    mounts = 0
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith(("./", "../", "/")):
                mounts += 1
                assert (REPO / source).exists(), f"{name}: {source} does not exist"
        build = service.get("build")
        if build:
            assert (REPO / build["context"] / build["dockerfile"]).is_file(), name
    assert mounts >= 6


def test_images_are_pinned() -> None:
    for name, service in services().items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image} has no tag"
        assert tag, f"{name}: {image} has no tag"
        assert "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
    assert services()["kafka"]["image"] == "apache/kafka:4.4.0"
    for name, service in services().items():
        # Exact releases (x.y.z...), never a moving minor such as 25.8.
        tag = service["image"].rpartition(":")[2].removeprefix("v")
        assert re.fullmatch(r"\d+\.\d+\.\d+(\.\d+)?", tag), f"{name}: {service['image']}"


def test_every_interpolated_variable_is_in_env_example() -> None:
    used = set(_VARIABLE.findall(COMPOSE.read_text()))
    example = env_example()
    assert used, "secrets come from .env"
    assert used <= set(example), f"missing from .env.example: {sorted(used - set(example))}"
    assert set(example) <= used, f"unused in compose: {sorted(set(example) - used)}"


def test_no_secret_is_committed() -> None:
    for name, value in env_example().items():
        if name.endswith(("PASSWORD", "SALT")):
            assert value.startswith("change-me"), name
    text = COMPOSE.read_text()
    for line in text.splitlines():
        if re.search(r"(PASSWORD|SALT)\w*:", line) and "_FILE: /run/secrets/" not in line:
            assert "${" in line, f"literal secret in compose: {line.strip()}"
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_clickhouse_users_and_dsn_agree_with_roles_sql() -> None:
    env = environment("worker-1")
    [dsn_format] = re.findall(r"printf '(http://[^']+)'", MAKE_SECRETS.read_text())
    dsn = urlsplit(dsn_format.replace("%s", "pw"))
    assert (dsn.scheme, dsn.hostname, dsn.port) == ("http", "clickhouse", 8123)
    assert dsn.username == "worker_user"
    assert dsn.path == "/" + env["CONTACTSTREAM_CLICKHOUSE_DATABASE"] == "/contactstream"
    roles = ROLES_SQL.read_text()
    assert "GRANT writer TO worker_user" in roles
    assert "CREATE DATABASE IF NOT EXISTS contactstream" in roles
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", roles))
    init = environment("clickhouse-init")
    for name in placeholders:  # each from a secret file (apply-roles.sh reads NAME_FILE)
        path = init[f"{name}_FILE"]
        assert path.removeprefix("/run/secrets/") in secrets_of("clickhouse-init"), name
    assert environment("clickhouse")["CLICKHOUSE_USER"] == init["CLICKHOUSE_ADMIN_USER"]
    mounted = {str(v).split(":")[1] for v in services()["clickhouse-init"]["volumes"]}
    assert init["ROLES_SQL"] in mounted
    assert services()["setup"]["depends_on"]["clickhouse-init"]["condition"] == (
        "service_completed_successfully")


def test_grafana_gets_what_its_provisioning_needs() -> None:
    env = environment("grafana")
    for path in GRAFANA_PROVISIONING.rglob("*.yml"):
        for variable in _VARIABLE.findall(path.read_text()):
            assert variable in env, f"{path.name} needs {variable} in grafana's environment"
        for secret in re.findall(r"\$__file\{/run/secrets/([^}]+)\}", path.read_text()):
            assert secret in secrets_of("grafana"), f"{path.name} needs the secret {secret}"
    provider = yaml.safe_load((GRAFANA_PROVISIONING / "dashboards" / "contactstream.yml")
                              .read_text())["providers"][0]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in services()["grafana"]["volumes"]}
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert env["GF_ANALYTICS_REPORTING_ENABLED"] == "false"  # no usage tracking (P6)


def test_grafana_downloads_nothing_when_it_starts() -> None:
    """The ClickHouse plugin is in the image (docker/grafana/Dockerfile), not fetched at boot;
    Grafana's own preinstaller and signature-key retrieval are off (air-gapped hosts)."""
    env = environment("grafana")
    assert not [name for name in env if name.startswith("GF_PLUGINS_PREINSTALL")
                and name != "GF_PLUGINS_PREINSTALL_DISABLED"], env
    assert "GF_INSTALL_PLUGINS" not in env
    assert env["GF_PLUGINS_PREINSTALL_DISABLED"] == "true"
    assert env["GF_PLUGINS_PUBLIC_KEY_RETRIEVAL_DISABLED"] == "true"
    build = services()["grafana"]["build"]
    assert build["dockerfile"] == "docker/grafana/Dockerfile"
    instructions = dockerfile_instructions(GRAFANA_DOCKERFILE)
    assert [arg for op, arg in instructions if op == "FROM"] == ["grafana/grafana:12.1.0"]
    args = dict(arg.split("=", 1) for op, arg in instructions if op == "ARG" and "=" in arg)
    assert re.fullmatch(r"\d+\.\d+\.\d+", args["CLICKHOUSE_PLUGIN_VERSION"])
    assert build["args"]["CLICKHOUSE_PLUGIN_SHA256"] == "${CLICKHOUSE_PLUGIN_SHA256:-}"
    env_plugins = dict(arg.split("=", 1) for op, arg in instructions if op == "ENV")
    # Outside the grafana-data volume at /var/lib/grafana, which would hide the image's copy.
    assert not env_plugins["GF_PATHS_PLUGINS"].startswith("/var/lib/grafana")
    assert instructions[-1] == ("USER", "472"), "back to Grafana's own non-root user"
    for source in copied_sources(instructions):
        assert (REPO / source).exists(), source
    # The data source the provisioning declares is the plugin the image installs.
    sources = yaml.safe_load((GRAFANA_PROVISIONING / "datasources" / "contactstream.yml")
                             .read_text())["datasources"]
    assert "grafana-clickhouse-datasource" in {source["type"] for source in sources}
    assert "plugin=grafana-clickhouse-datasource" in INSTALL_PLUGIN.read_text()


def fake_plugin_archive(directory: Path, version: str) -> Path:
    """A zip shaped like the plugin's release archive (a folder named like the plugin)."""
    archive = directory / f"grafana-clickhouse-datasource-{version}.linux_amd64.zip"
    with zipfile.ZipFile(archive, "w") as packed:
        packed.writestr("grafana-clickhouse-datasource/plugin.json",
                        json.dumps({"id": "grafana-clickhouse-datasource",
                                    "info": {"version": version}}, indent=2))
    return archive


@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip is not installed")
def test_the_plugin_installs_from_a_local_archive_and_its_hash_is_checked(
    tmp_path: Path,
) -> None:
    archives = tmp_path / "archives"
    archives.mkdir()
    digest = hashlib.sha256(fake_plugin_archive(archives, "4.20.0").read_bytes()).hexdigest()
    target = tmp_path / "plugins"
    env = {"PATH": os.environ["PATH"], "CLICKHOUSE_PLUGIN_VERSION": "4.20.0",
           "PLUGIN_ARCHIVES": str(archives), "GF_PATHS_PLUGINS": str(target),
           # An unreachable proxy: the test fails rather than download anything.
           "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}

    def install(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(INSTALL_PLUGIN)], env={**env, **extra},
                              capture_output=True, text=True, timeout=60, check=False)

    done = install(CLICKHOUSE_PLUGIN_SHA256=digest)
    assert done.returncode == 0, done.stderr
    assert "no download" in done.stdout
    assert "verified" in done.stdout
    assert (target / "grafana-clickhouse-datasource" / "plugin.json").is_file()
    unpinned = install()
    assert unpinned.returncode == 0, unpinned.stderr
    assert f"sha256 of the archive is {digest}" in unpinned.stderr
    forged = install(CLICKHOUSE_PLUGIN_SHA256="0" * 64)
    assert forged.returncode == 1
    assert "expected 000" in forged.stderr
    other = install(CLICKHOUSE_PLUGIN_VERSION="4.21.0")  # no such archive: would download
    assert other.returncode != 0


def test_prometheus_gets_its_config_and_rules() -> None:
    mounts = {str(v).split(":")[1]: str(v).split(":")[0]
              for v in services()["prometheus"]["volumes"]}
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    assert mounts["/etc/prometheus/rules"] == "./deploy/prometheus/rules"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services()["prometheus"]["command"]


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    text = path.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split()[0].upper(), line.split(None, 1)[1]) for line in lines
            if line and not line.startswith("#")]


def copied_sources(instructions: list[tuple[str, str]]) -> list[str]:
    """Sources of COPY from the build context (not --from another stage)."""
    found = []
    for op, arg in instructions:
        words = shlex.split(arg)
        if op != "COPY" or any(w.startswith("--from=") for w in words):
            continue
        found += [w for w in words[:-1] if not w.startswith("--")]
    return found


def test_dockerfile_builds_the_worker_from_a_wheel_and_the_lock() -> None:
    instructions = dockerfile_instructions()
    stages = [arg for op, arg in instructions if op == "FROM"]
    # Two stages on one exact Python release (never a moving tag such as 3.11-slim).
    assert len(stages) == 2
    assert stages[0].endswith(" AS build")
    base = stages[1]
    assert stages[0] == f"{base} AS build"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base
    copies = copied_sources(instructions)
    for source in copies:
        assert list(REPO.glob(source)), f"COPY {source}: not in the repository"
    assert {"pyproject.toml", "README.md", "streams", "schemas", "requirements/worker.lock",
            "requirements/build.lock"} <= set(copies)
    assert "deploy/clickhouse" not in copies, "migrations travel in the wheel"
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert "pip install --require-hashes -r requirements/worker.lock" in runs
    assert "pip install --require-hashes -r requirements/build.lock" in runs
    assert "pip wheel --no-deps --no-build-isolation" in runs
    assert "pip install --no-deps /wheels/contactstream-*.whl" in runs
    assert " -e " not in runs, "no editable tree in the image"
    assert "--editable" not in runs, "no editable tree in the image"
    for extra in ("chdb", "matplotlib", "[embedded", "[demo"):
        assert extra not in runs, extra
    # The runtime stage copies the installed environment only, not the source or the wheels.
    runtime = instructions[[op for op, _ in instructions].index("FROM", 1):]
    assert [arg for op, arg in runtime if op == "COPY"] == [
        "--from=build /opt/contactstream /opt/contactstream"]
    assert ("USER", "contactstream") in runtime
    cmd = next(arg for op, arg in runtime if op == "CMD")
    assert cmd == '["contactstream", "worker", "--no-setup"]'


def test_the_build_context_leaves_local_state_and_secrets_out() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".contactstream", ".env", "secrets"} <= ignored
    for source in copied_sources(dockerfile_instructions()):
        assert source.split("/")[0] not in ignored, source


@pytest.mark.parametrize("script", ["docker/clickhouse/apply-roles.sh",
                                    "docker/grafana/install-plugin.sh",
                                    "docker/kafka/start.sh", "deploy/secrets/make-secrets.sh",
                                    "deploy/prometheus/install-promtool.sh"])
def test_shell_scripts_are_strict_bash(script: str) -> None:
    text = (REPO / script).read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text


# Private at rest: every volume that can hold personal data keeps it 0600 in 0700 directories.
# Prometheus and Grafana hold metrics and dashboards, never personal data (privacy rule P6).
PERSONAL_VOLUMES = {"kafka-data": "kafka", "clickhouse-data": "clickhouse", "exports": "worker-1"}
OTHER_VOLUMES = {"prometheus-data", "grafana-data"}


def mount_target(service: str, volume: str) -> str:
    for entry in services()[service].get("volumes", []):
        source, target = str(entry).split(":")[:2]
        if source == volume:
            return target
    raise AssertionError(f"{service} does not mount {volume}")


def test_every_volume_is_classified_by_whether_it_holds_personal_data() -> None:
    assert set(compose()["volumes"]) == set(PERSONAL_VOLUMES) | OTHER_VOLUMES


def test_the_brokers_volume_is_private(tmp_path: Path) -> None:
    """start.sh run as the container would, with a stand-in for Kafka's scripts: the broker
    starts with the umask 077 on a 0700 log directory (even one a volume made 0755)."""
    data = mount_target("kafka", "kafka-data")
    assert environment("kafka")["KAFKA_DATA_DIR"] == data
    home, secrets, volume = tmp_path / "kafka", tmp_path / "secrets", tmp_path / "data"
    (home / "bin").mkdir(parents=True)
    secrets.mkdir()
    volume.mkdir(mode=0o755)
    volume.chmod(0o755)
    for principal in ("admin", "worker", "dpo", "operator", "producer-phone", "producer-sms",
                      "producer-email", "producer-form"):
        (secrets / f"kafka_{principal}_password").write_text("pw")
    for tool in ("kafka-storage.sh", "kafka-server-start.sh"):
        script = home / "bin" / tool
        script.write_text(f'#!/bin/sh\numask > "{volume}/{tool}.umask"\n'
                          f'echo segment > "{volume}/{tool}.file"\n')
        script.chmod(0o755)
    subprocess.run(["bash", str(KAFKA_START)], check=True, timeout=60, capture_output=True,
                   env={"PATH": os.environ["PATH"], "KAFKA_HOME": str(home), "CLUSTER_ID": "x",
                        "SECRETS_DIR": str(secrets), "KAFKA_DATA_DIR": str(volume)})
    assert stat.S_IMODE(volume.stat().st_mode) == 0o700
    for tool in ("kafka-storage.sh", "kafka-server-start.sh"):
        assert (volume / f"{tool}.umask").read_text().strip() == "0077"
        assert stat.S_IMODE((volume / f"{tool}.file").stat().st_mode) == 0o600


def test_clickhouse_keeps_its_parts_private() -> None:
    service = services()["clickhouse"]
    data = mount_target("clickhouse", "clickhouse-data")
    entrypoint = service["entrypoint"]
    assert entrypoint[:2] == ["bash", "-c"]
    assert entrypoint[2] == f"chmod 700 {data} && exec /entrypoint.sh"
    config = "deploy/clickhouse/config.d/private-at-rest.xml"
    target = mount_target("clickhouse", f"./{config}")
    assert target.startswith("/etc/clickhouse-server/config.d/")
    assert f"./{config}:{target}:ro" in service["volumes"]
    # The server sets its own umask (027 unless configured): the file must say 077.
    root = ElementTree.parse(REPO / config).getroot()  # noqa: S314 - the repository's file
    assert root.tag == "clickhouse"
    assert root.findtext("umask") == "077"


def test_the_workers_data_directory_and_exports_volume_are_private() -> None:
    runs = " ".join(arg for op, arg in dockerfile_instructions() if op == "RUN")
    data_dir = environment("worker-1")["CONTACTSTREAM_DATA_DIR"]
    exports = mount_target("worker-1", "exports")
    assert exports.startswith(data_dir + "/")
    # A new named volume copies the owner and mode of the image's directory at its mount point.
    assert f"mkdir -p {exports}" in runs
    assert f"chown -R contactstream {data_dir}" in runs
    assert f"chmod -R 700 {data_dir}" in runs
    # Production mode: the worker refuses a data directory other users can enter.
    for service in (*WORKERS, "setup"):
        assert environment(service).get("CONTACTSTREAM_MODE", "production") == "production"
