#!/usr/bin/env bash
# Run the six Health Link services on loopback as background processes.
# Usage: deploy/local/services.sh up|down|status
# Logs: $HEALTHLINK_DATA_DIR/logs/<service>.log (default .data/); pids in .data/run/.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
DATA_DIR="${HEALTHLINK_DATA_DIR:-$REPO_ROOT/.data}"
PYTHON="${HEALTHLINK_PYTHON:-$REPO_ROOT/.venv/bin/python}"
SERVICES=(consent ingest query audit notify auth)
declare -A PORTS=([consent]=8001 [ingest]=8002 [query]=8003 [audit]=8004 [notify]=8005 [auth]=8006)
TIMEOUT="${HEALTHLINK_START_TIMEOUT:-120}"

mkdir -p "$DATA_DIR/logs" "$DATA_DIR/run"
# The auth service keeps the development operator's key and the one-time codes here.
export HEALTHLINK_DATA_DIR="$DATA_DIR"
eval "$(bash "$SCRIPT_DIR/infra.sh" env)"

pidfile() { echo "$DATA_DIR/run/service-$1.pid"; }

alive() {
  local f; f="$(pidfile "$1")"
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

ready() { curl -fsS "http://127.0.0.1:${PORTS[$1]}/readyz" >/dev/null 2>&1; }

start() {
  local s="$1"
  if alive "$s"; then echo "[services] $s already running"; return; fi
  # The child closes inherited descriptors above 2 so it never holds the caller's pipes.
  (cd "$REPO_ROOT" && setsid nohup bash -c \
      'for f in /proc/$$/fd/*; do n=${f##*/}; if [[ $n -gt 2 ]]; then eval "exec $n>&-" 2>/dev/null; fi; done; exec "$@"' \
      serve "$PYTHON" -m healthlink serve "$s" </dev/null >>"$DATA_DIR/logs/$s.log" 2>&1 &
   echo $! >"$(pidfile "$s")")
}

wait_ready() {
  local s="$1" deadline=$((SECONDS + TIMEOUT))
  until ready "$s"; do
    if ! alive "$s"; then
      echo "[services] $s exited; last log lines:" >&2; tail -n 30 "$DATA_DIR/logs/$s.log" >&2
      exit 1
    fi
    if ((SECONDS > deadline)); then echo "[services] $s not ready after ${TIMEOUT}s" >&2; exit 1; fi
    sleep 0.3
  done
  echo "[services] $s ready on http://127.0.0.1:${PORTS[$s]}"
}

stop() {
  local s="$1" f pid
  f="$(pidfile "$s")"
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
  echo "[services] $s stopped"
}

case "${1:-}" in
  up) for s in "${SERVICES[@]}"; do start "$s"; done
      for s in "${SERVICES[@]}"; do wait_ready "$s"; done ;;
  down) for s in "${SERVICES[@]}"; do stop "$s"; done ;;
  status) for s in "${SERVICES[@]}"; do
            if alive "$s" && ready "$s"; then echo "$s: up"; else echo "$s: down"; fi
          done ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
