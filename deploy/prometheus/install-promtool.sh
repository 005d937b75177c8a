#!/usr/bin/env bash
# Make `promtool` and `prometheus` available for the config and rule tests
# (tests/unit/test_deploy_prometheus.py) and the live alert test (tests/integration/test_alerts.py).
# Idempotent: does nothing when both are on PATH. Installs Debian's `prometheus` package (it ships
# /usr/bin/promtool and /usr/bin/prometheus); needs root, as CI has.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-promtool: promtool or prometheus is missing and apt-get is not available" >&2
    exit 1
fi
sudo_cmd=()
if [[ $(id -u) != 0 ]]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq >/dev/null
# The package would start a Prometheus service where an init system runs; nothing relies on it.
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null
command -v prometheus >/dev/null
