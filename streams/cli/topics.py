"""`contactstream topics`: the declared topics (and ACLs on a secure cluster) applied."""

from __future__ import annotations

import json
from typing import Any

import click

from streams.cli.settings import command_settings


@click.group("topics")
def topics() -> None:
    """Kafka topics as code (design section 5)."""


@topics.command("ensure")
@click.option("--fix", is_flag=True, help="Correct drifting topic settings instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
def topics_ensure(fix: bool, as_json: bool) -> None:
    """Create missing topics; report settings that drift from the declared ones (exit 1)."""
    import asyncio

    from streams.kafka.topics import ensure_topics

    config = command_settings()
    report = asyncio.run(ensure_topics(config, fix=fix))
    lines = [
        *(f"created   {name}" for name in report.created),
        *(f"fixed     {name}" for name in report.fixed),
        *(f"ok        {name}" for name in report.unchanged),
        *(f"DRIFT     {line}" for line in report.drift),
    ]
    document: dict[str, Any] = {
        "created": report.created,
        "fixed": report.fixed,
        "ok": report.unchanged,
        "drift": list(report.drift),
    }
    if config.kafka_security_protocol != "PLAINTEXT":
        from streams.kafka.acls import acl_line, apply_acls

        acls = apply_acls(config, fix=fix)
        added = [acl_line(acl) for acl in acls.created]
        removed = [acl_line(acl) for acl in acls.removed]
        extra = [acl_line(acl) for acl in acls.extra]
        lines += [f"acl added {line}" for line in added]
        lines += [f"acl removed {line}" for line in removed]
        lines += [f"DRIFT     undeclared ACL {line} (--fix removes it)" for line in extra]
        lines.append(
            f"acls: {len(added)} added, {len(removed)} removed, "
            f"{len(extra)} undeclared reaching this deployment"
        )
        document["acls"] = {"added": added, "removed": removed, "undeclared": extra}
        report.drift.extend(extra)
    click.echo(json.dumps(document) if as_json else "\n".join(lines))
    if report.drift:
        raise click.ClickException(
            f"{len(report.drift)} topic setting(s) or ACL(s) drift from the "
            "declaration; rerun with --fix to correct them"
        )


