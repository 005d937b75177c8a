#!/usr/bin/env bash
# Apply deploy/clickhouse/roles.sql to a ClickHouse server, with the users' passwords taken from
# the environment. Idempotent: the compose stack runs it on every `up` (service clickhouse-init),
# while workers may be running; roles.sql never revokes, so nobody loses a right on the way.
#
#   ANALYST_PASSWORD, WORKER_PASSWORD, DPO_PASSWORD   passwords of the three users (required),
#                                                     or NAME_FILE: a file holding it (compose
#                                                     secrets, deploy/secrets/make-secrets.sh)
#   CLICKHOUSE_HOST (default clickhouse), CLICKHOUSE_ADMIN_USER (default admin),
#   CLICKHOUSE_ADMIN_PASSWORD (required)              the account that manages access
#   ROLES_SQL (default /contactstream/roles.sql)      the file to apply
#   CLICKHOUSE_CLIENT (default "clickhouse client")   tests set it to "cat" to see the SQL
#
# Passwords are escaped as SQL string literals and passed on standard input, never as arguments
# (which `ps` would show); the script never prints them.
set -euo pipefail

roles_sql=${ROLES_SQL:-/contactstream/roles.sql}
placeholders=(ANALYST_PASSWORD WORKER_PASSWORD DPO_PASSWORD)

sql_string_body() {
    # Body of a single-quoted ClickHouse string literal: escape backslashes, then quotes.
    # (Replacement strings are quoted so that bash 5.2 does not expand '&' in them.)
    local backslash='\' quote="'" value=$1
    value=${value//"$backslash"/"$backslash$backslash"}
    printf '%s' "${value//"$quote"/"$backslash$quote"}"
}

sql=$(<"$roles_sql")
for name in "${placeholders[@]}"; do
    file_variable="${name}_FILE"
    if [[ -n ${!file_variable:-} ]]; then
        printf -v "$name" '%s' "$(<"${!file_variable}")"
    fi
    if [[ -z ${!name:-} ]]; then
        echo "apply-roles: $name is not set (see .env.example)" >&2
        exit 2
    fi
    sql=${sql//"\${$name}"/"$(sql_string_body "${!name}")"}
done
if [[ $sql == *'${'* ]]; then
    echo "apply-roles: $roles_sql has a placeholder this script does not fill" >&2
    exit 2
fi

if [[ -n ${CLICKHOUSE_CLIENT:-} ]]; then
    read -r -a client <<<"$CLICKHOUSE_CLIENT"
    printf '%s\n' "$sql" | "${client[@]}"
    exit 0
fi

: "${CLICKHOUSE_ADMIN_PASSWORD:?CLICKHOUSE_ADMIN_PASSWORD is not set (see .env.example)}"
host=${CLICKHOUSE_HOST:-clickhouse}
config=$(mktemp)
trap 'rm -f "$config"' EXIT
chmod 600 "$config"
# clickhouse client reads the account from a config file, so the password stays off the command
# line. XML-escape it for the file.
xml_escape() {
    local v=${1//"&"/"&amp;"}
    v=${v//"<"/"&lt;"}
    printf '%s' "${v//">"/"&gt;"}"
}
printf '<config><user>%s</user><password>%s</password></config>\n' \
    "$(xml_escape "${CLICKHOUSE_ADMIN_USER:-admin}")" \
    "$(xml_escape "$CLICKHOUSE_ADMIN_PASSWORD")" >"$config"

for attempt in $(seq 1 30); do
    if clickhouse client --config-file "$config" --host "$host" --query "SELECT 1" >/dev/null 2>&1
    then
        break
    fi
    if [[ $attempt == 30 ]]; then
        echo "apply-roles: ClickHouse at $host did not answer" >&2
        exit 1
    fi
    sleep 2
done
printf '%s\n' "$sql" | clickhouse client --config-file "$config" --host "$host" --multiquery
echo "apply-roles: roles analyst, writer, dpo and their users are in place on $host"
