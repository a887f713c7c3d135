#!/usr/bin/env bash
# Kafka's secrets (docs/kafka-security.md): a password for the admin and for every
# principal of shared/acl.py, and a CA with the broker certificate of the hospitals'
# SASL_SSL listener (openssl; a PKCS12 keystore). Nothing it makes belongs in the
# repository: it writes under .data/ (git-ignored) or prints Kubernetes Secrets on stdout.
# Run again, it keeps what exists (same passwords, same certificate); delete a file to
# make it anew.
#
#   deploy/kafka-secrets.sh tls DIR SAN [CN]   CA + broker keystore into DIR (infra.sh uses it);
#                                              SAN as openssl writes it: IP:127.0.0.1,DNS:localhost
#   deploy/kafka-secrets.sh compose [DIR]      what docker-compose.yml mounts
#                                              (default .data/compose-secrets)
#   deploy/kafka-secrets.sh k8s [--namespace NS] [--hospital-domain DOMAIN] [--keep DIR]
#                                              Secret manifests on stdout: | kubectl apply -f -
#                                              (material kept in DIR, default .data/k8s-secrets)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
VENV_BIN="${HEALTHLINK_VENV_BIN:-$REPO_ROOT/.venv/bin}"

die() { echo "kafka-secrets: $*" >&2; exit 1; }
note() { echo "kafka-secrets: $*" >&2; }
random_secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# A local CA (RSA 2048, 10 years) and a broker certificate it signs (825 days) for SAN,
# packed with its key in broker.p12 (password in store.password). Kept if present.
make_tls() {  # make_tls DIR SAN [CN]
  local dir="$1" san="$2" cn="${3:-HealthLink Kafka broker}"
  [[ -f "$dir/broker.p12" && -f "$dir/store.password" && -f "$dir/ca.pem" ]] && return 0
  command -v openssl >/dev/null || die "openssl is needed (apt-get install openssl)"
  mkdir -p "$(dirname "$dir")"
  local tmp; tmp="$(mktemp -d "$(dirname "$dir")/.tls-tmp.XXXXXX")"
  (
    set -e; cd "$tmp"; umask 077
    random_secret >store.password
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=HealthLink local CA" \
      -keyout ca.key -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$cn" -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -sha256 \
      -extfile broker.ext -out broker.pem 2>/dev/null
    openssl pkcs12 -export -name broker -in broker.pem -inkey broker.key -certfile ca.pem \
      -passout "file:store.password" -out broker.p12
    rm -f broker.csr broker.ext ca.srl
    chmod 644 ca.pem
  ) || { rm -rf "$tmp"; die "could not make the certificates (openssl)"; }
  rm -rf "$dir"; mv "$tmp" "$dir"; chmod 755 "$dir"
}

python_of_repo() {  # the platform's Python (shared/acl.py holds the principals)
  [[ -x "$VENV_BIN/python" ]] || die "$VENV_BIN/python missing: run 'make install' first"
  (cd "$REPO_ROOT" && "$VENV_BIN/python" "$@")
}

# credentials.json: the admin's password (hex, as infra.sh makes it) and one for every
# principal of the ACL table (shared.kafka_admin.ensure_passwords, as apply-acls would).
make_credentials() {  # make_credentials FILE
  local file="$1"
  if [[ ! -f "$file" ]]; then
    (umask 077; printf '{"admin": "%s"}\n' "$(random_secret)" >"$file")
  fi
  python_of_repo - "$file" <<'EOF'
import sys
from pathlib import Path

from shared import acl
from shared.kafka_admin import ensure_passwords

ensure_passwords(Path(sys.argv[1]), acl.PRINCIPALS)
EOF
}

# DIR/admin.password, DIR/services/<service>.json ({service: password}: the one file a
# service's container mounts), DIR/credentials.json (every principal: kafka-init's).
split_credentials() {  # split_credentials DIR
  local dir="$1"
  mkdir -p "$dir/services"
  python_of_repo - "$dir" <<'EOF'
import json
import os
import sys
from pathlib import Path

from shared import acl

out = Path(sys.argv[1])
known = json.loads((out / "credentials.json").read_text())


def write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


write(out / "admin.password", known["admin"] + "\n")
for service in acl.SERVICES:
    write(out / "services" / f"{service}.json", json.dumps({service: known[service]}) + "\n")
EOF
}

make_all() {  # make_all DIR SAN CN
  mkdir -p "$1"; chmod 700 "$1"
  make_credentials "$1/credentials.json"
  split_credentials "$1"
  make_tls "$1/tls" "$2" "$3"
}

cmd_compose() {
  local dir="${1:-$REPO_ROOT/.data/compose-secrets}"
  make_all "$dir" "DNS:localhost,IP:127.0.0.1,DNS:kafka" "localhost"
  # Compose mounts these files as they are: readable by the containers' users (Kafka's
  # 1000, the services' 10001); the folder (0700) keeps everyone else out. ca.key stays
  # 0600 and is mounted nowhere.
  chmod 755 "$dir/services" "$dir/tls"
  chmod 644 "$dir/credentials.json" "$dir/admin.password" "$dir"/services/*.json \
    "$dir/tls/broker.p12" "$dir/tls/store.password" "$dir/tls/ca.pem"
  note "made $dir (docker-compose.yml reads it; HEALTHLINK_COMPOSE_SECRETS moves it)"
  note "hospitals verify the broker with $dir/tls/ca.pem"
}

secret_manifest() {  # secret_manifest NAMESPACE NAME KEY=FILE...
  local ns="$1" name="$2" pair; shift 2
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n' "$name" "$ns"
  printf '  labels:\n    app.kubernetes.io/part-of: healthlink\ntype: Opaque\ndata:\n'
  for pair in "$@"; do
    printf '  %s: %s\n' "${pair%%=*}" "$(base64 <"${pair#*=}" | tr -d '\n')"
  done
}

cmd_k8s() {
  local ns=healthlink domain=kafka.healthlink.example dir="$REPO_ROOT/.data/k8s-secrets"
  while (( $# )); do
    case "$1" in
      --namespace) ns="$2"; shift 2 ;;
      --hospital-domain) domain="$2"; shift 2 ;;
      --keep) dir="$2"; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  make_all "$dir" "DNS:*.$domain,DNS:*.kafka-headless.$ns.svc,DNS:*.kafka-headless.$ns.svc.cluster.local" "$domain"
  secret_manifest "$ns" kafka-broker admin.password="$dir/admin.password" \
    store.password="$dir/tls/store.password" broker.p12="$dir/tls/broker.p12"
  secret_manifest "$ns" kafka-admin credentials.json="$dir/credentials.json"
  local file
  for file in "$dir"/services/*.json; do
    secret_manifest "$ns" "kafka-client-$(basename "$file" .json)" credentials.json="$file"
  done
  note "kept in $dir; hospitals verify the brokers (kafka-N.$domain:9094) with $dir/tls/ca.pem"
}

case "${1:-}" in
  tls) shift; (( $# >= 2 )) || die "usage: $0 tls DIR SAN [CN]"; make_tls "$@" ;;
  compose) shift; cmd_compose "$@" ;;
  k8s) shift; cmd_k8s "$@" ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
