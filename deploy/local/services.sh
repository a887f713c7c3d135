#!/usr/bin/env bash
# Run the Health Link services (six, and the portal: the physicians' web viewer) on loopback as background processes of this checkout.
# Usage: deploy/local/services.sh check|up|down|status
#   check   exit 1, naming the process, if a port of a service not running yet is held
#           by a process this checkout did not start (make up runs it before anything)
#   up      start the services not yet running, wait until each answers /readyz; refuses
#           (and names the process) when one of their ports is held by a process it did
#           not start
#   down    SIGTERM each service started here (by the pid the service wrote itself),
#           SIGKILL after HEALTHLINK_SERVICE_STOP_TIMEOUT; then anything left of its
#           process group
#   status  each service: up (pid, checkout it runs from) or down (and who holds its port)
# Ports: shared/settings.py, 8001-8007 (portal 8007); HEALTHLINK_SERVICE_PORT_BASE moves them all.
# Logs: $HEALTHLINK_DATA_DIR/logs/<service>.log (default .data/); pids in .data/run/.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd -P)"
DATA_DIR="${HEALTHLINK_DATA_DIR:-$REPO_ROOT/.data}"
RUN_DIR="$DATA_DIR/run"
LOG_DIR="$DATA_DIR/logs"
# The auth service keeps the development operator's key and the one-time codes here.
export HEALTHLINK_DATA_DIR="$DATA_DIR"
PYTHON="${HEALTHLINK_PYTHON:-$REPO_ROOT/.venv/bin/python}"
HOST=127.0.0.1
START_TIMEOUT="${HEALTHLINK_START_TIMEOUT:-120}"
# A service ends by itself within 8 s of SIGTERM (healthlink serve); this is the backstop.
STOP_TIMEOUT="${HEALTHLINK_SERVICE_STOP_TIMEOUT:-15}"
CHILDREN_GRACE=30  # tenths of a second a service's children get to follow it (lifeline: ~1 s)

# shellcheck source=deploy/local/procs.sh
source "$SCRIPT_DIR/procs.sh"

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

pidfile() { echo "$RUN_DIR/service-$1.pid"; }
portfile() { echo "$RUN_DIR/service-$1.port"; }

# The services and their ports, from shared/settings.py (one source of truth).
SERVICES=()
declare -A PORTS=()
read_ports() {
  local name port
  while read -r name port; do SERVICES+=("$name"); PORTS[$name]="$port"; done < <(
    cd "$REPO_ROOT" && "$PYTHON" -c 'from shared.settings import SERVICE_PORTS, Settings
settings = Settings()
for name in SERVICE_PORTS:
    print(name, settings.port(name))')
  (( ${#SERVICES[@]} )) || die "could not read the services' ports with $PYTHON (run: make install)"
}

# ours service: a pid file of this data dir names a live 'healthlink serve <service>'
# process working in this checkout.
ours() {
  local f; f="$(pidfile "$1")"
  pid_alive "$f" "-m healthlink serve $1" || return 1
  [[ "$(readlink "/proc/$(cat "$f")/cwd" 2>/dev/null)" == "$REPO_ROOT" ]]
}

pid_of() { cat "$(pidfile "$1")"; }

# The port a running service of ours was started on (PORTS for one not started yet).
port_of() {
  local f; f="$(portfile "$1")"
  if [[ -s "$f" ]] && ours "$1"; then cat "$f"; else echo "${PORTS[$1]}"; fi
}

answers_ready() { curl -fsS --max-time 2 "http://$HOST:$1/readyz" >/dev/null 2>&1; }

# Before anything starts: every port of a service not running yet is free, or we stop here
# and name the process holding it. (A stale service from another checkout answers
# /readyz like ours would: reporting it ready would be a lie.)
refuse_held_ports() {
  local s problems="" holders
  for s in "${SERVICES[@]}"; do
    if ours "$s"; then
      if [[ "$(port_of "$s")" != "${PORTS[$s]}" ]]; then
        problems+="  $s already runs here on port $(port_of "$s"), not ${PORTS[$s]}: run 'make down' first"$'\n'
      fi
      continue
    fi
    holders="$(describe_holders "${PORTS[$s]}")"
    [[ -z "$holders" ]] || problems+="  $s: port $HOST:${PORTS[$s]} is held by $holders"$'\n'
  done
  [[ -z "$problems" ]] && return 0
  die "not starting: these ports are held by processes this checkout ($REPO_ROOT) did not start:
${problems}Stop them ('make down' in the checkout named, or kill the pid), or move these services
with HEALTHLINK_SERVICE_PORT_BASE (now ${PORTS[${SERVICES[0]}]})."
}

start() {
  local s="$1"
  if ours "$s"; then log "$s already running (pid $(pid_of "$s"))"; return; fi
  start_detached "$(pidfile "$s")" "$LOG_DIR/$s.log" "$REPO_ROOT" \
    "$PYTHON" -m healthlink serve "$s" --port "${PORTS[$s]}" || die "$s did not start"
  echo "${PORTS[$s]}" >"$(portfile "$s")"
}

# Ready means: our process is alive, it is the one listening on the port, and it answers.
wait_ready() {
  local s="$1" port="${PORTS[$1]}" pid holders deadline=$((SECONDS + START_TIMEOUT))
  pid="$(pid_of "$s")"
  while :; do
    if ! running "$pid"; then
      printf '[services] ERROR: %s exited; last log lines:\n' "$s" >&2
      tail -n 30 "$LOG_DIR/$s.log" >&2
      exit 1
    fi
    holders="$(port_holders "$port")"
    if [[ -n "$holders" ]]; then
      if [[ "$holders" != "$pid" ]]; then
        die "$s (pid $pid) is not the only process listening on $HOST:$port:
$(describe_holders "$port")"
      fi
      if answers_ready "$port"; then
        log "$s ready on http://$HOST:$port (pid $pid)"
        return
      fi
    fi
    if ((SECONDS > deadline)); then die "$s not ready after ${START_TIMEOUT}s (log: $LOG_DIR/$s.log)"; fi
    sleep 0.3
  done
}

# Wait for a stopped service's pid, then for the rest of its process group (its children
# end with it); SIGKILL what is left after the timeouts.
wait_stopped() {
  local s="$1" pid="$2" started="$3" left tries=0
  while running "$pid"; do
    if ((SECONDS - started >= STOP_TIMEOUT)); then
      log "$s (pid $pid) still running ${STOP_TIMEOUT}s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1
  done
  while left="$(group_members "$pid")" && [[ -n "$left" ]]; do
    if ((tries++ >= CHILDREN_GRACE)); then
      log "$s: its processes $(echo "$left" | tr '\n' ' ')outlived it: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$(pidfile "$s")" "$(portfile "$s")"
  log "$s stopped (pid $pid, $((SECONDS - started))s)"
}

cmd_up() {
  read_ports
  mkdir -p "$LOG_DIR" "$RUN_DIR"
  eval "$(bash "$SCRIPT_DIR/infra.sh" env)"  # this checkout's broker and database
  refuse_held_ports
  local s
  for s in "${SERVICES[@]}"; do start "$s"; done
  for s in "${SERVICES[@]}"; do wait_ready "$s"; done
}

# Every service this data dir started (by its pid files: no Python needed), all at once.
cmd_down() {
  local f s pid started=$SECONDS stopping=()
  for f in "$RUN_DIR"/service-*.pid; do
    [[ -e "$f" ]] || continue
    s="${f##*/service-}"; s="${s%.pid}"
    if ours "$s"; then
      pid="$(pid_of "$s")"
      kill -TERM "$pid" 2>/dev/null || true
      stopping+=("$s:$pid")
    else
      rm -f "$f" "$(portfile "$s")"
    fi
  done
  for f in "${stopping[@]}"; do wait_stopped "${f%%:*}" "${f##*:}" "$started"; done
  (( ${#stopping[@]} )) || log "no service of this checkout is running"
}

cmd_status() {
  read_ports
  local s pid port rc=0 children
  for s in "${SERVICES[@]}"; do
    port="$(port_of "$s")"
    if ours "$s"; then
      pid="$(pid_of "$s")"
      children="$(children_of "$pid" | wc -l)"
      if answers_ready "$port"; then
        show_up "$s" "http://$HOST:$port" "$pid" "$children child processes"
      else
        show_up "$s" "http://$HOST:$port" "$pid" "NOT READY: /readyz does not answer 200"; rc=1
      fi
    else
      show_down "$s" "$HOST" "$port"; rc=1
    fi
  done
  return $rc
}

case "${1:-}" in
  check) read_ports; refuse_held_ports ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 check|up|down|status" >&2; exit 2 ;;
esac
