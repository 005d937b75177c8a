#!/usr/bin/env bash
# Install Grafana's ClickHouse data source plugin into $GF_PATHS_PLUGINS at image build time
# (docker/grafana/Dockerfile), so nothing is downloaded when the container starts and the
# analyst dashboard has its data source on an air-gapped host.
#
#   CLICKHOUSE_PLUGIN_VERSION   the exact plugin version (required)
#   CLICKHOUSE_PLUGIN_SHA256    sha256 of the plugin archive; when set, any other archive is
#                               refused. When empty the build prints the archive's sha256 to pin.
#   TARGETARCH (default amd64)  the image's architecture (set by BuildKit)
#   PLUGIN_ARCHIVES             a directory that may hold the archive, named
#                               grafana-clickhouse-datasource-VERSION.linux_ARCH.zip: used as is,
#                               nothing is downloaded (builds without internet access)
#   GF_PATHS_PLUGINS            where Grafana loads plugins from (required)
#
# Otherwise the archive comes from grafana.com's download URL for that exact version.
set -euo pipefail

plugin=grafana-clickhouse-datasource
version=${CLICKHOUSE_PLUGIN_VERSION:?CLICKHOUSE_PLUGIN_VERSION is not set}
arch=${TARGETARCH:-amd64}
expected=${CLICKHOUSE_PLUGIN_SHA256:-}
target=${GF_PATHS_PLUGINS:?GF_PATHS_PLUGINS is not set}
archive="${PLUGIN_ARCHIVES:-/nonexistent}/$plugin-$version.linux_$arch.zip"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -f $archive ]]; then
    echo "install-plugin: $plugin $version from $archive (no download)"
else
    url="https://grafana.com/api/plugins/$plugin/versions/$version/download?os=linux&arch=$arch"
    echo "install-plugin: downloading $plugin $version ($arch)"
    curl --fail --silent --show-error --location --proto '=https' --retry 3 \
        --output "$work/$plugin.zip" "$url"
    archive="$work/$plugin.zip"
fi

actual=$(sha256sum "$archive" | cut -d ' ' -f 1)
if [[ -n $expected ]]; then
    if [[ $actual != "$expected" ]]; then
        echo "install-plugin: $archive has sha256 $actual, expected $expected" >&2
        exit 1
    fi
    echo "install-plugin: sha256 $actual verified"
else
    echo "install-plugin: sha256 of the archive is $actual; pin it as CLICKHOUSE_PLUGIN_SHA256" >&2
fi

unzip -q "$archive" -d "$work/unpacked"
manifest="$work/unpacked/$plugin/plugin.json"
if [[ ! -f $manifest ]] || ! grep -Eq "\"version\": *\"$version\"" "$manifest"; then
    echo "install-plugin: the archive does not hold $plugin $version" >&2
    exit 1
fi
mkdir -p "$target"
rm -rf "${target:?}/$plugin"
mv "$work/unpacked/$plugin" "$target/$plugin"
echo "install-plugin: $plugin $version installed in $target"
