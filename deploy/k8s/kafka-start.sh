#!/usr/bin/env bash
# Starts one Kafka broker (KRaft) with the platform's security, in the apache/kafka image:
# deploy/k8s/kafka.yaml (a ConfigMap kustomize makes from this file) and docker-compose.yml
# (mounted). docs/kafka-security.md.
#
# server.properties is written from
#   - every KAFKA_* environment variable, named as the apache/kafka image names them:
#     KAFKA_LISTENER_SECURITY_PROTOCOL_MAP -> listener.security.protocol.map
#     ('___' -> '-', '__' -> '_', '_' -> '.'; JVM options such as KAFKA_HEAP_OPTS excepted);
#     the listeners, SASL mechanisms and the authorizer are there, in the manifests;
#   - the secrets, from files in $HEALTHLINK_KAFKA_SECRETS_DIR (made by
#     deploy/kafka-secrets.sh): admin.password (the controller's PLAIN login and the
#     inter-broker SCRAM login, as deploy/local/infra.sh writes them), broker.p12 and
#     store.password (the HOSPITAL listener's keystore).
# The storage is formatted once, with the admin's SCRAM credential, so the broker never
# runs without one. HEALTHLINK_KAFKA_DRY_RUN=1 prints the properties and stops.
set -euo pipefail

SECRETS="${HEALTHLINK_KAFKA_SECRETS_DIR:-/etc/kafka/secrets}"
CONFIG_DIR="${HEALTHLINK_KAFKA_CONFIG_DIR:-/tmp/kafka-config}"
KAFKA_BIN="${HEALTHLINK_KAFKA_BIN:-/opt/kafka/bin}"
CONFIG="$CONFIG_DIR/server.properties"

die() { echo "kafka-start: $*" >&2; exit 1; }
[[ -n "${CLUSTER_ID:-}" ]] || die "CLUSTER_ID is not set"
for f in admin.password store.password broker.p12; do
  [[ -r "$SECRETS/$f" ]] || die "$SECRETS/$f missing or unreadable (deploy/kafka-secrets.sh makes it)"
done
admin_pw="$(tr -d '\n' <"$SECRETS/admin.password")"
store_pw="$(tr -d '\n' <"$SECRETS/store.password")"
[[ "$admin_pw" =~ ^[A-Za-z0-9_-]{16,}$ ]] || die "admin.password: 16+ letters, digits, '-' or '_'"
[[ "$store_pw" =~ ^[A-Za-z0-9_-]{16,}$ ]] || die "store.password: 16+ letters, digits, '-' or '_'"

property_of() {  # KAFKA_FOO_BAR -> foo.bar
  local key="${1#KAFKA_}"
  key="${key//___/-}"; key="${key//__/@}"; key="${key//_/.}"; key="${key//@/_}"
  printf '%s' "${key,,}"
}

write_config() {
  local name
  echo "# written by kafka-start.sh from KAFKA_* variables and $SECRETS"
  for name in $(compgen -e | LC_ALL=C sort); do
    [[ "$name" == KAFKA_* ]] || continue
    case "$name" in
      KAFKA_HEAP_OPTS|KAFKA_OPTS|KAFKA_JVM_PERFORMANCE_OPTS|KAFKA_GC_LOG_OPTS|KAFKA_LOG4J_OPTS|KAFKA_JMX_OPTS|KAFKA_DEBUG|KAFKA_HOME) continue ;;
    esac
    printf '%s=%s\n' "$(property_of "$name")" "${!name}"
  done
  cat <<EOF
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin_pw" user_admin="$admin_pw";
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
listener.name.hospital.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.hospital.ssl.keystore.type=PKCS12
listener.name.hospital.ssl.keystore.location=$SECRETS/broker.p12
listener.name.hospital.ssl.keystore.password=$store_pw
listener.name.hospital.ssl.key.password=$store_pw
EOF
}

mkdir -p "$CONFIG_DIR"
umask 077
write_config >"$CONFIG"
# The admin's client settings, for probes and kafka-*.sh tools in the container.
cat >"$CONFIG_DIR/admin.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
EOF
if [[ "${HEALTHLINK_KAFKA_DRY_RUN:-}" == 1 ]]; then
  cat "$CONFIG"
  exit 0
fi

"$KAFKA_BIN/kafka-storage.sh" format --cluster-id "$CLUSTER_ID" --config "$CONFIG" --ignore-formatted \
  --add-scram "SCRAM-SHA-512=[name=admin,password=$admin_pw]"
exec "$KAFKA_BIN/kafka-server-start.sh" "$CONFIG"
