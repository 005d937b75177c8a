#!/usr/bin/env bash
# The compose stack's Kafka broker (apache/kafka image) with SASL_SSL and ACLs, its secrets read
# from /run/secrets (compose `secrets:`, made by deploy/secrets/make-secrets.sh), never from the
# environment. Listeners: SASL_SSL kafka:9092 for the containers and :19092 (published as
# 127.0.0.1:9092) for the host, both SCRAM-SHA-512 over TLS with the certificate in kafka.pem;
# the controller listener with a static PLAIN login of admin. Deny by default
# (StandardAuthorizer); `contactstream topics ensure` as admin applies the ACLs of
# streams/kafka/acls.py. SCRAM users are created when the storage is first formatted, their
# passwords read by the storage tool from a 0600 file (never a command line); add or rotate one
# later through Kafka's admin API (docs/security.md, "Rotation"), not kafka-configs.sh, whose
# --add-config would put the password on a command line.
set -euo pipefail
# Private at rest: log segments hold raw records (personal data). The JVM inherits this umask,
# so every file it creates is 0600 in 0700 directories; the volume's root is made 0700 too.
umask 077

secrets=${SECRETS_DIR:-/run/secrets}
kafka_home=${KAFKA_HOME:-/opt/kafka}
data=${KAFKA_DATA_DIR:-/var/lib/kafka/data}
mkdir -p "$data"
chmod 700 "$data"
config_dir=$(mktemp -d)
chmod 700 "$config_dir"
admin=$(<"$secrets/kafka_admin_password")
principals=(admin worker dpo operator producer-phone producer-sms producer-email producer-form)

cat >"$config_dir/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@kafka:9093
log.dirs=$data
listeners=INTERNAL://:9092,HOST://:19092,CONTROLLER://:9093
advertised.listeners=INTERNAL://kafka:9092,HOST://localhost:9092
listener.security.protocol.map=INTERNAL:SASL_SSL,HOST:SASL_SSL,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
sasl.mechanism.controller.protocol=PLAIN
listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
listener.name.host.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin" user_admin="$admin";
ssl.keystore.type=PEM
ssl.keystore.location=$secrets/kafka.pem
ssl.truststore.type=PEM
ssl.truststore.location=$secrets/ca.pem
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPERTIES
chmod 600 "$config_dir/server.properties"

if [[ ! -f $data/meta.properties ]]; then
    # The SCRAM users' passwords go to the storage tool in a 0600 file (umask 077) it reads as
    # "@file", one argument a line: on its command line /proc/PID/cmdline would show them.
    # printf is a bash builtin, so no other process sees them either.
    scram=$config_dir/format-scram.args
    trap 'rm -f "$scram"' EXIT  # also when the format fails
    for principal in "${principals[@]}"; do
        password=$(<"$secrets/kafka_${principal}_password")
        printf -- '--add-scram\nSCRAM-SHA-512=[name=%s,password=%s]\n' "$principal" "$password" \
            >>"$scram"
    done
    "$kafka_home/bin/kafka-storage.sh" format --ignore-formatted \
        -t "${CLUSTER_ID:?CLUSTER_ID is required}" -c "$config_dir/server.properties" \
        "@$scram" >/dev/null
    rm -f "$scram"
    trap - EXIT
fi
exec "$kafka_home/bin/kafka-server-start.sh" "$config_dir/server.properties"
