#!/usr/bin/env bash
# Make every secret of the compose stack into DIR (default ./secrets, git-ignored), once:
#   ca.pem, ca.key                 a private CA for the Kafka broker's TLS certificate
#   kafka.pem                      the broker's key and certificate (PEM keystore; SAN kafka,
#                                  localhost, 127.0.0.1), signed by that CA
#   kafka_<principal>_password     SCRAM passwords of admin, worker, dpo, producer-<channel>
#   clickhouse_<user>_password     passwords of analyst_user, worker_user, dpo_user
#   contactstream_clickhouse_dsn   the workers' DSN (worker_user's password inside)
#   contactstream_subject_key_salt the salt of the repeat-contact key
#   dpo-signing-key.pem            the DPO tool's Ed25519 key (keep it off the servers)
#   dpo-verify-key.pem             its public half, for the workers
# Existing files are kept, so rerunning never rotates anything by accident; to rotate one,
# delete it and rerun (docs/security.md, "Rotation"). Needs openssl 1.1.1+.
#
# Who may read them: DIR is 0700 and every file 0640, owned by you and the secrets group
# (SECRETS_GID, default your primary group; set the same SECRETS_GID in .env: compose adds it
# to every container given a secret, whose own user differs from yours, since compose mounts
# a secret file as it is, mode and owner included). The CA key and the DPO's signing key are
# 0600: no container gets them. Every run sets these modes again, on kept files too.
set -euo pipefail

dir=${1:-secrets}
gid=${SECRETS_GID:-$(id -g)}
umask 077
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"

# 32 random bytes, hex: no character the SCRAM, JAAS or URL syntaxes would need escaped.
random() { printf '%s' "$(openssl rand -hex 32)"; }

keep() {  # keep NAME: true when NAME exists already (and says so)
    if [[ -s $1 ]]; then
        echo "kept      $dir/$1"
        return 0
    fi
    echo "made      $dir/$1"
    return 1
}

keep ca.pem || {
    openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=contactstream Kafka CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
}
keep kafka.pem || {
    openssl req -newkey rsa:3072 -nodes -subj "/CN=kafka" -keyout kafka.key -out kafka.csr \
        2>/dev/null
    printf 'subjectAltName=DNS:kafka,DNS:localhost,IP:127.0.0.1\n' >kafka.ext
    openssl x509 -req -in kafka.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
        -extfile kafka.ext -out kafka.crt 2>/dev/null
    cat kafka.key kafka.crt >kafka.pem
    rm -f kafka.key kafka.crt kafka.csr kafka.ext ca.srl
}
for principal in admin worker dpo operator producer-phone producer-sms producer-email producer-form; do
    keep "kafka_${principal}_password" || random >"kafka_${principal}_password"
done
for user in analyst worker dpo; do
    keep "clickhouse_${user}_password" || random >"clickhouse_${user}_password"
done
keep contactstream_clickhouse_dsn || printf 'http://worker_user:%s@clickhouse:8123/contactstream' \
    "$(cat clickhouse_worker_password)" >contactstream_clickhouse_dsn
keep contactstream_subject_key_salt || random >contactstream_subject_key_salt
keep dpo-signing-key.pem || {
    openssl genpkey -algorithm ed25519 -out dpo-signing-key.pem
    openssl pkey -in dpo-signing-key.pem -pubout -out dpo-verify-key.pem
}
# The containers run as other users than the one running this script: they read the files
# they are given (compose mounts each one read-only at /run/secrets/NAME) through the group.
chgrp "$gid" ./*
chmod 0640 ./*
chmod 0600 ca.key dpo-signing-key.pem
echo "secrets group: $gid (set SECRETS_GID=$gid in .env)"
