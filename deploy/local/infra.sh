#!/usr/bin/env bash
# Local infrastructure for HealthLink development: Kafka (KRaft, single node),
# PostgreSQL and FerretDB (MongoDB wire protocol on top of PostgreSQL).
# No Docker needed. See docs/infrastructure.md.
#
# Usage: deploy/local/infra.sh up|down [--wipe]|wipe|status|logs [kafka|ferretdb|postgres] [-f]|env|kafka-cli CLASS ARGS
set -euo pipefail

# --------------------------------------------------------------------------- config
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

DATA_DIR="${HEALTHLINK_DATA_DIR:-$REPO_ROOT/.data}"
TOOLS_DIR="${HEALTHLINK_TOOLS_DIR:-${HOME:-/root}/.cache/healthlink/tools}"

KAFKA_VERSION="${HEALTHLINK_KAFKA_VERSION:-4.4.0}"
FERRETDB_VERSION="${HEALTHLINK_FERRETDB_VERSION:-v1.24.2}"

KAFKA_PORT="${HEALTHLINK_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
# The listener hospitals use (SASL_SSL with the local CA below): Kafka's port + 2.
KAFKA_HOSPITAL_PORT=$((KAFKA_PORT + 2))
MONGO_PORT="${HEALTHLINK_MONGO_PORT:-27018}"
PG_PORT="${HEALTHLINK_PG_PORT:-55432}"
FERRETDB_DEBUG_PORT="${HEALTHLINK_FERRETDB_DEBUG_PORT:-$((MONGO_PORT + 10000))}"
HOST=127.0.0.1

START_TIMEOUT="${HEALTHLINK_START_TIMEOUT:-120}"  # seconds, per component
STOP_TIMEOUT="${HEALTHLINK_STOP_TIMEOUT:-60}"     # seconds before SIGKILL
POLL_INTERVAL=0.5

LOG_DIR="$DATA_DIR/logs"
RUN_DIR="$DATA_DIR/run"
PG_DATA="$DATA_DIR/pg"
PG_SOCKET_DIR="$RUN_DIR/pg-socket"
PG_LOG="$LOG_DIR/postgres.log"
PG_OUTSIDE=""  # set when PostgreSQL's files must live outside $DATA_DIR (see below)
# PostgreSQL runs as the 'postgres' OS user (it refuses root). When we are root and that
# user cannot reach $DATA_DIR (a clone inside a private 0700 folder, for instance), its
# files go to a folder of their own under /var/tmp, named after $DATA_DIR, and `wipe`
# removes it too.
if [[ "$(id -u)" == 0 ]] && id postgres >/dev/null 2>&1 \
   && ! runuser -u postgres -- test -x "$(dirname "$DATA_DIR")" 2>/dev/null; then
  PG_OUTSIDE="/var/tmp/healthlink-pg-$(printf '%s' "$DATA_DIR" | sha256sum | cut -c1-12)"
  PG_DATA="$PG_OUTSIDE/pg"
  PG_SOCKET_DIR="$PG_OUTSIDE/socket"
  PG_LOG="$PG_OUTSIDE/postgres.log"
fi
KAFKA_DIR="$DATA_DIR/kafka"
KAFKA_LOG="$LOG_DIR/kafka.log"            # log4j2 output
KAFKA_STDOUT_LOG="$LOG_DIR/kafka.stdout.log"  # JVM stdout/stderr (crashes, GC errors)
KAFKA_PID="$RUN_DIR/kafka.pid"
# Kafka's own authentication (docs/kafka-security.md): one password per principal, made
# at first start, kept here (0600) and nowhere else; the local CA and broker certificate
# of the hospital listener.
KAFKA_CREDENTIALS="$KAFKA_DIR/credentials.json"
KAFKA_TLS_DIR="$KAFKA_DIR/tls"
KAFKA_CA_FILE="$KAFKA_TLS_DIR/ca.pem"
KAFKA_ADMIN_PROPS="$KAFKA_DIR/admin.properties"
VENV_BIN="${HEALTHLINK_VENV_BIN:-$REPO_ROOT/.venv/bin}"
FERRETDB_DIR="$DATA_DIR/ferretdb"
FERRETDB_LOG="$LOG_DIR/ferretdb.log"
FERRETDB_PID="$RUN_DIR/ferretdb.pid"

KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_LOG4J="$SCRIPT_DIR/kafka/log4j2.xml"
KAFKA_TOOLS_LOG4J="$SCRIPT_DIR/kafka/tools-log4j2.xml"
# Cache key includes a hash of the pom so dependency changes trigger a fresh download.
KAFKA_HOME="$TOOLS_DIR/kafka-$KAFKA_VERSION-$(sha256sum "$KAFKA_POM" | cut -c1-10)"
KAFKA_LIBS="$KAFKA_HOME/libs"
FERRETDB_BIN="$TOOLS_DIR/ferretdb-$FERRETDB_VERSION/bin/ferretdb"

# --------------------------------------------------------------------------- helpers
# shellcheck source=deploy/local/procs.sh
source "$SCRIPT_DIR/procs.sh"  # pid_alive, start_detached, port holders, describe_pid
log()  { printf '[infra] %s\n' "$*" >&2; }
die()  { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [[ "$(id -u)" == 0 ]]; }

# Show the tail of a log file and exit with an error.
fail_with_log() {
  local msg="$1" file="$2"
  printf '[infra] ERROR: %s\n' "$msg" >&2
  if [[ -f "$file" ]]; then
    printf '[infra] ---- last 40 lines of %s ----\n' "$file" >&2
    tail -n 40 "$file" >&2 || true
    printf '[infra] ---- end of %s ----\n' "$file" >&2
  fi
  exit 1
}

now() { date +%s; }

# Refuse to start name on port when another process listens there, and say which one.
refuse_held_port() {  # refuse_held_port name port variable
  local holders
  holders="$(describe_holders "$2")"
  [[ -n "$holders" ]] || return 0
  die "$1: port $HOST:$2 is already in use (set $3 to move it):
$holders"
}

tcp_open() {  # tcp_open host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Close every descriptor above 2 in the current (sub)shell, so servers started from it do
# not inherit the caller's pipes.
close_extra_fds() {
  local f n
  for f in /proc/$BASHPID/fd/*; do
    n=${f##*/}
    if [[ $n -gt 2 ]]; then eval "exec $n>&-" 2>/dev/null || true; fi
  done
}

# Graceful stop: SIGTERM, wait, then SIGKILL after STOP_TIMEOUT.
stop_pid() {  # stop_pid name pidfile marker
  local name="$1" pidfile="$2" marker="$3" pid deadline
  if ! pid_alive "$pidfile" "$marker"; then
    rm -f "$pidfile"
    log "$name: not running"
    return 0
  fi
  pid="$(cat "$pidfile")"
  log "$name: stopping (pid $pid, SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(( $(now) + STOP_TIMEOUT ))
  while running "$pid"; do
    if (( $(now) >= deadline )); then
      log "$name: still running after ${STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep "$POLL_INTERVAL"
  done
  while running "$pid"; do sleep 0.1; done
  rm -f "$pidfile"
  log "$name: stopped"
}

# --------------------------------------------------------------------------- prerequisites
apt_install() {
  is_root || die "missing packages ($*); install them with: sudo apt-get install -y $*"
  command -v apt-get >/dev/null || die "missing packages ($*) and apt-get is not available"
  log "installing with apt-get: $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

PG_BIN=""
find_pg_bin() {
  local want="" d
  [[ -n "${HEALTHLINK_PG_BIN:-}" ]] && { PG_BIN="$HEALTHLINK_PG_BIN"; return 0; }
  # An existing cluster must be run by the major version that created it.
  [[ -f "$PG_DATA/PG_VERSION" ]] && want="$(cat "$PG_DATA/PG_VERSION")"
  if [[ -n "$want" && -x "/usr/lib/postgresql/$want/bin/postgres" ]]; then
    PG_BIN="/usr/lib/postgresql/$want/bin"; return 0
  fi
  [[ -n "$want" ]] && return 1
  # shellcheck disable=SC2012  # fixed, well-known paths
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$d" && -x "$d/initdb" && -x "$d/postgres" ]]; then PG_BIN="$d"; return 0; fi
  return 1
}

ensure_postgres_installed() {
  if ! find_pg_bin; then
    if [[ -f "$PG_DATA/PG_VERSION" ]]; then
      die "cluster $PG_DATA was created by PostgreSQL $(cat "$PG_DATA/PG_VERSION") which is not installed (install postgresql-$(cat "$PG_DATA/PG_VERSION") or run 'infra.sh wipe')"
    fi
    apt_install postgresql
    find_pg_bin || die "PostgreSQL installed but initdb/postgres not found under /usr/lib/postgresql/*/bin"
  fi
  [[ -x "$PG_BIN/psql" ]] || apt_install postgresql-client
}

ensure_java_maven() {
  local missing=()
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn  >/dev/null || missing+=(maven)
  (( ${#missing[@]} == 0 )) || apt_install "${missing[@]}"
  local jv
  jv="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  [[ "${jv%%.*}" -ge 17 ]] 2>/dev/null || die "Kafka $KAFKA_VERSION needs Java 17+, found '${jv:-unknown}'"
}

# --------------------------------------------------------------------------- tools
ensure_kafka_tools() {
  if [[ -f "$KAFKA_HOME/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || ensure_java_maven
  log "kafka: resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION + runtime deps from Maven Central into $KAFKA_LIBS"
  mkdir -p "$TOOLS_DIR"
  local tmp; tmp="$(mktemp -d "$TOOLS_DIR/.kafka-tmp.XXXXXX")"
  if ! mvn -B -q -f "$KAFKA_POM" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
    cp "$tmp/mvn.log" "$TOOLS_DIR/kafka-mvn-failed.log"; rm -rf "$tmp"
    fail_with_log "maven could not resolve Kafka $KAFKA_VERSION" "$TOOLS_DIR/kafka-mvn-failed.log"
  fi
  ls "$tmp/libs"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "kafka jar missing after maven run"; }
  touch "$tmp/.complete"
  rm -rf "$KAFKA_HOME"; mv "$tmp" "$KAFKA_HOME"
}

ensure_ferretdb_tool() {
  if [[ -x "$FERRETDB_BIN" ]]; then return 0; fi
  command -v go >/dev/null || die "Go toolchain not found (need Go >= 1.22 to build FerretDB $FERRETDB_VERSION; https://go.dev/dl/)"
  log "ferretdb: building github.com/FerretDB/FerretDB $FERRETDB_VERSION (takes ~1-2 min the first time)"
  mkdir -p "$TOOLS_DIR"
  local tmp src dir; tmp="$(mktemp -d "$TOOLS_DIR/.ferretdb-tmp.XXXXXX")"
  # A plain `go install .../cmd/ferretdb@vX` builds, but the binary panics at startup because
  # build/version/version.txt is generated at release time and not in the module zip. So: fetch the
  # module, copy it, write version.txt, and build from the copy (same sources, checksummed by go.sum).
  if ! dir="$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" 2>"$tmp/build.log" \
              | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')" || [[ -z "$dir" ]]; then
    cp "$tmp/build.log" "$TOOLS_DIR/ferretdb-build-failed.log"; rm -rf "$tmp"
    fail_with_log "could not download FerretDB $FERRETDB_VERSION module" "$TOOLS_DIR/ferretdb-build-failed.log"
  fi
  src="$tmp/src"
  cp -R "$dir" "$src"; chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  echo "healthlink-local" >"$src/build/version/package.txt"
  mkdir -p "$tmp/bin"
  if ! (cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$tmp/bin/ferretdb" ./cmd/ferretdb) >>"$tmp/build.log" 2>&1; then
    cp "$tmp/build.log" "$TOOLS_DIR/ferretdb-build-failed.log"; rm -rf "$tmp"
    fail_with_log "FerretDB build failed" "$TOOLS_DIR/ferretdb-build-failed.log"
  fi
  "$tmp/bin/ferretdb" --version >/dev/null 2>&1 || { rm -rf "$tmp"; die "built ferretdb binary does not run"; }
  mkdir -p "$(dirname "$FERRETDB_BIN")"
  mv "$tmp/bin/ferretdb" "$FERRETDB_BIN"
  rm -rf "$tmp"
}

# --------------------------------------------------------------------------- postgres
as_pg() {  # run a command as the postgres OS user when we are root (postgres refuses to run as root)
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_running() {
  [[ -f "$PG_DATA/PG_VERSION" ]] || return 1
  find_pg_bin 2>/dev/null || return 1
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_ready() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -t 2 >/dev/null 2>&1; }

psql_pg() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U postgres "$@"; }

start_postgres() {
  ensure_postgres_installed
  if [[ -n "$PG_OUTSIDE" ]]; then mkdir -p "$PG_OUTSIDE"; chmod 755 "$PG_OUTSIDE"; fi
  mkdir -p "$LOG_DIR" "$RUN_DIR" "$PG_SOCKET_DIR"
  touch "$PG_LOG"
  if is_root; then
    id postgres >/dev/null 2>&1 || die "OS user 'postgres' missing (it is created by the postgresql package)"
    chown postgres:postgres "$PG_SOCKET_DIR" "$PG_LOG"
    [[ -d "$PG_DATA" ]] && chown -R postgres:postgres "$PG_DATA"
    runuser -u postgres -- test -x "$(dirname "$PG_DATA")" \
      || die "the postgres user cannot access $(dirname "$PG_DATA"); set HEALTHLINK_DATA_DIR elsewhere, e.g. /var/tmp/healthlink"
  fi

  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    log "postgres: initdb $PG_DATA ($("$PG_BIN/postgres" --version))"
    rm -rf "$PG_DATA"; mkdir -p "$PG_DATA"; chmod 700 "$PG_DATA"
    is_root && chown postgres:postgres "$PG_DATA"
    # trust auth: local dev only, and the server listens on 127.0.0.1 + a private unix socket dir.
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --no-locale >>"$PG_LOG" 2>&1 \
      || fail_with_log "initdb failed" "$PG_LOG"
  fi

  if pg_running; then
    log "postgres: already running"
  else
    refuse_held_port postgres "$PG_PORT" HEALTHLINK_PG_PORT
    log "postgres: starting on $HOST:$PG_PORT"
    # FerretDB stores each document as one jsonb value; a clinical record is often over
    # the 2 kB TOAST threshold, and lz4 compresses it at a fraction of pglz's CPU (about
    # 20 % of PostgreSQL's CPU during an ingest flood). Durability is unchanged.
    local pg_opts="-c listen_addresses=$HOST -p $PG_PORT -k $PG_SOCKET_DIR"
    if ldd "$PG_BIN/postgres" 2>/dev/null | grep -q liblz4; then
      pg_opts+=" -c default_toast_compression=lz4"
    fi
    # -w: return once it accepts connections. (With -W, pg_ctl returned before the server
    # wrote its pid file, and the check below then took a slow cold start for a crash.)
    (close_extra_fds
     as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$START_TIMEOUT" -o "$pg_opts" start </dev/null >/dev/null 2>&1) \
      || fail_with_log "pg_ctl start failed" "$PG_LOG"
  fi

  local deadline=$(( $(now) + START_TIMEOUT ))
  until pg_ready; do
    if (( $(now) >= deadline )); then fail_with_log "postgres not ready after ${START_TIMEOUT}s" "$PG_LOG"; fi
    if ! pg_running; then fail_with_log "postgres exited during startup" "$PG_LOG"; fi
    sleep "$POLL_INTERVAL"
  done
  if [[ "$(psql_pg -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'")" != 1 ]]; then
    log "postgres: creating database ferretdb"
    psql_pg -d postgres -c "CREATE DATABASE ferretdb" >/dev/null
  fi
  log "postgres: ready"
}

stop_postgres() {
  if pg_running; then
    log "postgres: stopping (pg_ctl -m fast)"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$STOP_TIMEOUT" stop >/dev/null \
      || fail_with_log "pg_ctl stop failed" "$PG_LOG"
    log "postgres: stopped"
  else
    log "postgres: not running"
  fi
}

# --------------------------------------------------------------------------- kafka
# JVM command line for Kafka CLI classes (small heap, fast startup, warnings to stderr).
KAFKA_TOOL_JAVA=(java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
  -Dlog4j2.configurationFile="$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIBS/*")
kafka_java() { "${KAFKA_TOOL_JAVA[@]}" "$@"; }

write_kafka_config() {
  mkdir -p "$KAFKA_DIR/data"
  local admin_pw tls_pw
  admin_pw="$(credential admin)"; tls_pw="$(cat "$KAFKA_TLS_DIR/store.password")"
  (umask 077; cat >"$KAFKA_DIR/server.properties") <<EOF
# Generated by deploy/local/infra.sh on every 'up' -- edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
# No PLAINTEXT listener: services and tools on CLIENT (SASL/SCRAM-SHA-512, loopback),
# hospitals on HOSPITAL (SASL/SCRAM-SHA-512 over TLS), the KRaft controller on
# CONTROLLER (SASL/PLAIN on loopback: SCRAM cannot authenticate the controller quorum,
# its credentials live in the metadata the controller serves).
listeners=CLIENT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT,HOSPITAL://$HOST:$KAFKA_HOSPITAL_PORT
advertised.listeners=CLIENT://$HOST:$KAFKA_PORT,HOSPITAL://$HOST:$KAFKA_HOSPITAL_PORT
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,HOSPITAL:SASL_SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLIENT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin_pw" user_admin="$admin_pw";
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
listener.name.hospital.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.hospital.ssl.keystore.type=PKCS12
listener.name.hospital.ssl.keystore.location=$KAFKA_TLS_DIR/broker.p12
listener.name.hospital.ssl.keystore.password=$tls_pw
listener.name.hospital.ssl.key.password=$tls_pw
# Kafka's own authorizer: nothing is allowed without an ACL (shared/acl.py makes them),
# the platform's admin principal alone is a super user.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin
log.dirs=$KAFKA_DIR/data
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
# small segments: a dev box should not pre-allocate 1 GiB per partition
log.segment.bytes=16777216
log.retention.hours=168
log.retention.check.interval.ms=300000
num.network.threads=2
num.io.threads=4
EOF
  local client_sasl="security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$admin_pw\";"
  (umask 077; printf '%s\n' "$client_sasl" >"$KAFKA_ADMIN_PROPS")
  (umask 077; cat >"$KAFKA_DIR/probe.properties") <<EOF
$client_sasl
request.timeout.ms=3000
default.api.timeout.ms=5000
EOF
}

# One principal's password from credentials.json (python3 only reads JSON here).
credential() {  # credential principal
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$KAFKA_CREDENTIALS" "$1"
}

random_secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# A Kafka data dir from before SASL (no credentials.json) is moved aside, so `make up`
# keeps working on an existing checkout: its topics held only development data.
move_aside_pre_sasl() {
  [[ -d "$KAFKA_DIR" && ! -f "$KAFKA_CREDENTIALS" ]] || return 0
  [[ -n "$(ls -A "$KAFKA_DIR" 2>/dev/null)" ]] || return 0
  if kafka_running; then stop_pid kafka "$KAFKA_PID" "kafka.Kafka"; fi
  local aside
  aside="$KAFKA_DIR.pre-sasl.$(date +%Y%m%d%H%M%S)"
  log "kafka: $KAFKA_DIR has no credentials (made before SASL); moving it to $aside"
  mv "$KAFKA_DIR" "$aside"
}

# The admin's password (made once; the services' are added by `healthlink kafka apply-acls`)
# and the hospital listener's CA and broker certificate (openssl; PKCS12 keystore).
ensure_kafka_secrets() {
  mkdir -p "$KAFKA_DIR"; chmod 700 "$KAFKA_DIR"
  if [[ ! -f "$KAFKA_CREDENTIALS" ]]; then
    log "kafka: making the admin credential ($KAFKA_CREDENTIALS)"
    (umask 077; printf '{"admin": "%s"}\n' "$(random_secret)" >"$KAFKA_CREDENTIALS")
  fi
  chmod 600 "$KAFKA_CREDENTIALS"
  [[ -f "$KAFKA_TLS_DIR/broker.p12" ]] && return 0
  command -v openssl >/dev/null || apt_install openssl
  log "kafka: making a local CA and the broker certificate for the hospital listener ($KAFKA_TLS_DIR)"
  # the same openssl steps make Compose's and Kubernetes' (deploy/kafka-secrets.sh)
  bash "$REPO_ROOT/deploy/kafka-secrets.sh" tls "$KAFKA_TLS_DIR" "IP:$HOST,DNS:localhost" "$HOST" \
    || die "could not make the hospital listener's certificates (openssl)"
}

# Service principals' SCRAM credentials, the ACL table and the platform topics, from
# shared/acl.py (idempotent; run at every start).
apply_kafka_acls() {
  [[ -x "$VENV_BIN/healthlink" ]] || die "kafka: $VENV_BIN/healthlink missing: run 'make install' first (the ACLs come from shared/acl.py)"
  log "kafka: applying service credentials and ACLs (healthlink kafka apply-acls)"
  HEALTHLINK_KAFKA_BOOTSTRAP="$HOST:$KAFKA_PORT" HEALTHLINK_KAFKA_CREDENTIALS="$KAFKA_CREDENTIALS" \
    HEALTHLINK_TOPIC_PREFIX="" "$VENV_BIN/healthlink" kafka apply-acls >>"$LOG_DIR/kafka.acls.log" 2>&1 \
    || fail_with_log "applying the Kafka ACLs failed" "$LOG_DIR/kafka.acls.log"
}

kafka_running() { pid_alive "$KAFKA_PID" "kafka.Kafka"; }

kafka_ready() {
  tcp_open "$HOST" "$KAFKA_PORT" || return 1
  # a real metadata round-trip through the Admin client
  timeout 30 "${KAFKA_TOOL_JAVA[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
    --command-config "$KAFKA_DIR/probe.properties" --list >/dev/null 2>>"$LOG_DIR/kafka.probe.log"
}

start_kafka() {
  ensure_java_maven
  ensure_kafka_tools
  mkdir -p "$LOG_DIR" "$RUN_DIR" "$KAFKA_DIR"
  move_aside_pre_sasl
  ensure_kafka_secrets
  if kafka_running; then
    log "kafka: already running (pid $(cat "$KAFKA_PID"))"
    write_kafka_config
  else
    write_kafka_config
    if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
      [[ -s "$KAFKA_DIR/cluster-id" ]] || kafka_java kafka.tools.StorageTool random-uuid >"$KAFKA_DIR/cluster-id"
      log "kafka: formatting storage (cluster id $(cat "$KAFKA_DIR/cluster-id")), admin SCRAM credential bootstrapped"
      kafka_java kafka.tools.StorageTool format -t "$(cat "$KAFKA_DIR/cluster-id")" \
        -c "$KAFKA_DIR/server.properties" \
        --add-scram "SCRAM-SHA-512=[name=admin,password=$(credential admin)]" >>"$KAFKA_STDOUT_LOG" 2>&1 \
        || fail_with_log "kafka storage format failed" "$KAFKA_STDOUT_LOG"
    fi
    refuse_held_port kafka "$KAFKA_PORT" HEALTHLINK_KAFKA_PORT
    refuse_held_port "kafka controller" "$KAFKA_CONTROLLER_PORT" HEALTHLINK_KAFKA_PORT
    refuse_held_port "kafka hospital listener" "$KAFKA_HOSPITAL_PORT" HEALTHLINK_KAFKA_PORT
    log "kafka: starting $KAFKA_VERSION on $HOST:$KAFKA_PORT (SASL/SCRAM; controller $KAFKA_CONTROLLER_PORT, hospitals $KAFKA_HOSPITAL_PORT SASL_SSL)"
    start_detached "$KAFKA_PID" "$KAFKA_STDOUT_LOG" "$REPO_ROOT" \
      java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
        -Dkafka.logs.dir="$LOG_DIR" -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties" || die "kafka did not start"
  fi
  local deadline=$(( $(now) + START_TIMEOUT ))
  until kafka_ready; do
    kafka_running || { tail -n 20 "$KAFKA_STDOUT_LOG" >&2 2>/dev/null || true; fail_with_log "kafka exited during startup" "$KAFKA_LOG"; }
    if (( $(now) >= deadline )); then
      tail -n 10 "$LOG_DIR/kafka.probe.log" >&2 2>/dev/null || true
      fail_with_log "kafka not ready after ${START_TIMEOUT}s (probe errors above)" "$KAFKA_LOG"
    fi
    sleep "$POLL_INTERVAL"
  done
  apply_kafka_acls
  log "kafka: ready"
}

# --------------------------------------------------------------------------- ferretdb
ferretdb_running() { pid_alive "$FERRETDB_PID" "ferretdb"; }

# Real MongoDB wire-protocol ping in pure bash (no mongosh/driver needed): send an OP_MSG
# {ping: 1, $db: "admin"} over /dev/tcp and check that the reply contains ok: 1.0.
# (`ferretdb ping` exists but in v1.24 requires --test-enable-new-auth + credentials.)
mongo_ping() {  # mongo_ping host port
  (
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    # shellcheck disable=SC2016  # "$db" is a literal BSON field name
    # header: messageLength 51, requestID 1, responseTo 0, opCode 2013 | flagBits 0 | section kind 0 | BSON (30 bytes)
    printf '\x33\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00''\x00\x00\x00\x00\x00''\x1e\x00\x00\x00\x10ping\x00\x01\x00\x00\x00\x02$db\x00\x06\x00\x00\x00admin\x00\x00' >&3
    hdr="$(timeout 5 dd bs=1 count=16 <&3 2>/dev/null | od -An -tu4 | tr -s ' \n' ' ')"
    read -r len _ _ op <<<"$hdr"
    [[ "${op:-}" == 2013 && "${len:-0}" -gt 16 && "$len" -lt 65536 ]] || exit 1
    body="$(timeout 5 dd bs=1 count=$((len - 16)) <&3 2>/dev/null | od -An -tx1 | tr -d ' \n')"
    # BSON element: type 0x01 (double), name "ok", value 1.0 (little-endian 0x3ff0000000000000)
    [[ "$body" == *016f6b00000000000000f03f* ]]
  ) 2>/dev/null
}

ferretdb_ready() { mongo_ping "$HOST" "$MONGO_PORT"; }

start_ferretdb() {
  ensure_ferretdb_tool
  mkdir -p "$LOG_DIR" "$RUN_DIR" "$FERRETDB_DIR"
  if ferretdb_running; then
    log "ferretdb: already running (pid $(cat "$FERRETDB_PID"))"
  else
    refuse_held_port ferretdb "$MONGO_PORT" HEALTHLINK_MONGO_PORT
    refuse_held_port "ferretdb debug" "$FERRETDB_DEBUG_PORT" HEALTHLINK_FERRETDB_DEBUG_PORT
    log "ferretdb: starting $FERRETDB_VERSION on $HOST:$MONGO_PORT (postgres backend)"
    # GOGC=400: collect garbage a quarter as often (FerretDB allocates per document;
    # with the default, GC took ~15% of its CPU during an ingest flood).
    # plan_cache_mode=force_custom_plan: FerretDB sends the field name as a parameter
    # (_jsonb->$1 @> $2); a cached generic plan cannot match the GIN expression indexes
    # (shared/indexes) and PostgreSQL keeps one chosen while a table was small: a seq
    # scan until the next ANALYZE (docs/indexes.md).
    start_detached "$FERRETDB_PID" "$FERRETDB_LOG" "$REPO_ROOT" \
      env GOGC="${HEALTHLINK_FERRETDB_GOGC:-400}" "$FERRETDB_BIN" --handler=postgresql \
        --postgresql-url="postgres://postgres@$HOST:$PG_PORT/ferretdb?plan_cache_mode=force_custom_plan" \
        --listen-addr="$HOST:$MONGO_PORT" --debug-addr="$HOST:$FERRETDB_DEBUG_PORT" \
        --state-dir="$FERRETDB_DIR" --telemetry=disable --log-level=info --log-format=text \
      || die "ferretdb did not start"
  fi
  local deadline=$(( $(now) + START_TIMEOUT ))
  until ferretdb_ready; do
    ferretdb_running || fail_with_log "ferretdb exited during startup" "$FERRETDB_LOG"
    if (( $(now) >= deadline )); then fail_with_log "ferretdb not ready after ${START_TIMEOUT}s" "$FERRETDB_LOG"; fi
    sleep "$POLL_INTERVAL"
  done
  log "ferretdb: ready"
}

# --------------------------------------------------------------------------- commands
cmd_env() {
  echo "export HEALTHLINK_KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT"
  echo "export HEALTHLINK_MONGO_URL=mongodb://$HOST:$MONGO_PORT/"
  # FerretDB's PostgreSQL, for the GIN indexes its pushdown can use (shared/indexes).
  echo "export HEALTHLINK_PG_DSN=postgresql://postgres@$HOST:$PG_PORT/ferretdb"
  # Kafka's credentials (one per principal, docs/kafka-security.md), the hospital
  # listener (SASL_SSL) and the CA that signed its certificate.
  echo "export HEALTHLINK_KAFKA_CREDENTIALS=$KAFKA_CREDENTIALS"
  echo "export HEALTHLINK_KAFKA_HOSPITAL_BOOTSTRAP=$HOST:$KAFKA_HOSPITAL_PORT"
  echo "export HEALTHLINK_KAFKA_CA_FILE=$KAFKA_CA_FILE"
}

cmd_up() {
  local t0; t0=$(now)
  mkdir -p "$DATA_DIR" "$LOG_DIR" "$RUN_DIR"
  # Build/download tools first so a long build does not race any startup timeout.
  ensure_java_maven; ensure_kafka_tools; ensure_ferretdb_tool; ensure_postgres_installed
  start_postgres
  start_kafka
  start_ferretdb
  log "all components ready in $(( $(now) - t0 ))s; data in $DATA_DIR"
  log "use:  eval \"\$($0 env)\""
  cmd_env
}

cmd_down() {
  stop_pid ferretdb "$FERRETDB_PID" "ferretdb"
  stop_pid kafka "$KAFKA_PID" "kafka.Kafka"
  stop_postgres
  if [[ "${1:-}" == "--wipe" ]]; then cmd_wipe; fi
}

cmd_wipe() {
  if kafka_running || ferretdb_running || pg_running; then
    die "stack is running; use 'infra.sh down --wipe'"
  fi
  [[ -n "$DATA_DIR" && "$DATA_DIR" != "/" ]] || die "refusing to wipe '$DATA_DIR'"
  log "removing $DATA_DIR (tool cache $TOOLS_DIR kept)"
  rm -rf -- "$DATA_DIR"
  if [[ -n "$PG_OUTSIDE" ]]; then rm -rf -- "$PG_OUTSIDE"; fi
}

# One line per component: up with its pid and the checkout it runs from, or down (and,
# if another process holds its port, which one).
cmd_status() {
  local rc=0 pid
  if pg_running && find_pg_bin && pg_ready; then
    pid="$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
    show_up postgres "$HOST:$PG_PORT" "$pid" "${PG_OUTSIDE:+data $PG_DATA}"
  else show_down postgres "$HOST" "$PG_PORT"; rc=1; fi
  if kafka_running && tcp_open "$HOST" "$KAFKA_PORT"; then
    show_up kafka "$HOST:$KAFKA_PORT" "$(cat "$KAFKA_PID")" "Kafka $KAFKA_VERSION SASL/SCRAM, controller :$KAFKA_CONTROLLER_PORT, hospitals :$KAFKA_HOSPITAL_PORT"
  else show_down kafka "$HOST" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_HOSPITAL_PORT"; rc=1; fi
  if ferretdb_running && tcp_open "$HOST" "$MONGO_PORT"; then
    show_up ferretdb "$HOST:$MONGO_PORT" "$(cat "$FERRETDB_PID")" "FerretDB $FERRETDB_VERSION"
  else show_down ferretdb "$HOST" "$MONGO_PORT" "$FERRETDB_DEBUG_PORT"; rc=1; fi
  return $rc
}

cmd_logs() {
  local files=()
  case "${1:-all}" in
    kafka)             files=("$KAFKA_LOG" "$KAFKA_STDOUT_LOG") ;;
    ferretdb|mongo)    files=("$FERRETDB_LOG") ;;
    postgres|pg)       files=("$PG_LOG") ;;
    all)               files=("$PG_LOG" "$KAFKA_LOG" "$KAFKA_STDOUT_LOG" "$FERRETDB_LOG") ;;
    *) die "unknown component '$1' (kafka|ferretdb|postgres)" ;;
  esac
  local existing=() f
  for f in "${files[@]}"; do [[ -f "$f" ]] && existing+=("$f"); done
  (( ${#existing[@]} )) || die "no logs yet in $LOG_DIR"
  if [[ "${2:-}" == "-f" || "${HEALTHLINK_LOGS_FOLLOW:-}" == 1 ]]; then
    exec tail -n 100 -F "${existing[@]}"
  fi
  tail -n 100 "${existing[@]}"
}

# Run any Kafka CLI class from the cached classpath, e.g.
#   infra.sh kafka-cli org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:19092 \
#     --command-config .data/kafka/admin.properties --list   (the admin's SASL settings)
cmd_kafka_cli() {
  (( $# )) || die "usage: infra.sh kafka-cli <main class> [args...]"
  [[ -f "$KAFKA_HOME/.complete" ]] || die "Kafka tools not cached yet; run 'infra.sh up' first"
  exec "${KAFKA_TOOL_JAVA[@]}" "$@"
}

usage() {
  cat <<EOF
Usage: $0 <command>
  up                     install missing tools, start postgres + kafka + ferretdb, wait until ready
  down [--wipe]          stop everything (optionally delete $DATA_DIR)
  wipe                   delete $DATA_DIR (stack must be down; tool cache is kept)
  status                 show each component up/down (exit 1 if anything is down)
  logs [kafka|ferretdb|postgres] [-f]   tail logs
  env                    print export lines (HEALTHLINK_KAFKA_BOOTSTRAP, _MONGO_URL, _PG_DSN, _KAFKA_CREDENTIALS, ...)
  kafka-cli CLASS [ARGS] run a Kafka CLI class, e.g. org.apache.kafka.tools.TopicCommand --bootstrap-server $HOST:$KAFKA_PORT --command-config $KAFKA_ADMIN_PROPS --list
EOF
}

main() {
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    up)      cmd_up ;;
    down)    cmd_down "$@" ;;
    wipe)    cmd_wipe ;;
    status)  cmd_status ;;
    logs)    cmd_logs "$@" ;;
    env)     cmd_env ;;
    kafka-cli) cmd_kafka_cli "$@" ;;
    -h|--help|help|"") usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
