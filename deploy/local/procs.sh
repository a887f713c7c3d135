# shellcheck shell=bash
# Process helpers shared by infra.sh and services.sh (sourced, not run): start a
# detached process that records its own pid, tell whether a pid file names a live
# process of ours, find who listens on a port and say where it runs from.
# Linux only: everything is read from /proc (no ps, ss or lsof needed).

# running pid: the process exists and has not exited (a zombie nobody reaped yet has).
running() {
  local line
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  line="${line##*) }"
  [[ "${line:0:1}" != Z ]]
}

# pid_alive pidfile marker: the pid in pidfile runs and its command line contains marker
# (guards against a pid reused after a reboot or a crash).
pid_alive() {
  local pidfile="$1" marker="$2" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile" 2>/dev/null)" || return 1
  running "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$marker"
}

# Start a command detached from this shell (own session and process group, stdin closed,
# output to a log, working directory cwd). The child writes its own pid to pidfile right
# before exec, so the file names the real process, not a wrapper.
start_detached() {  # start_detached pidfile logfile cwd cmd...
  local pidfile="$1" logfile="$2" cwd="$3"; shift 3
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # $$, $0, $1 and $@ are for the child shell
  # The child closes every inherited descriptor above 2 first: a daemon holding the caller's
  # pipe open would keep `make up | tail` (or a CI runner reading our output) waiting forever.
  setsid nohup bash -c 'for f in /proc/$$/fd/*; do n=${f##*/}; if [[ $n -gt 2 ]]; then eval "exec $n>&-" 2>/dev/null; fi; done; cd "$1" || exit 1; shift; echo $$ >"$0"; exec "$@"' \
    "$pidfile" "$cwd" "$@" >>"$logfile" 2>&1 </dev/null &
  local waited=0
  while [[ ! -s "$pidfile" ]] && (( waited < 50 )); do sleep 0.1; waited=$((waited + 1)); done
  [[ -s "$pidfile" ]] || { printf 'failed to start: %s\n' "$*" >&2; return 1; }
}

# port_holders port: the pids with a listening TCP socket on port (any local address).
port_holders() {
  local hex inode args=()
  hex="$(printf '%04X' "$1")"
  # shellcheck disable=SC2013  # socket inode numbers: one word each
  for inode in $(awk -v port="$hex" 'FNR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == port) print $10 }' \
                   /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u); do
    (( ${#args[@]} )) && args+=(-o)
    args+=(-lname "socket:\\[$inode\\]")
  done
  (( ${#args[@]} )) || return 0
  { find /proc/[0-9]*/fd -maxdepth 1 -type l \( "${args[@]}" \) 2>/dev/null || true; } | cut -d/ -f3 | sort -un
}

port_listening() {  # port_listening port: some socket listens on it (even one we cannot see)
  local hex; hex="$(printf '%04X' "$1")"
  awk -v port="$hex" 'FNR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == port) found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# checkout_of dir: the nearest enclosing directory holding .git (a clone or worktree), if any.
checkout_of() {
  local d="$1"
  while [[ -n "$d" && "$d" != / ]]; do
    if [[ -e "$d/.git" ]]; then echo "$d"; return 0; fi
    d="${d%/*}"
  done
}

# where_from pid: the checkout a process runs from (its working directory if in none).
where_from() {
  local cwd root
  cwd="$(readlink "/proc/$1/cwd" 2>/dev/null)" || { echo "(working directory not readable)"; return 0; }
  root="$(checkout_of "$cwd")"
  if [[ -z "$root" ]]; then echo "$cwd"
  elif [[ "$root" == "$cwd" ]]; then echo "$root"
  else echo "$root (in $cwd)"; fi
}

# describe_pid pid: "pid N: <command line> -- from <checkout>", for messages and status.
describe_pid() {
  local pid="$1" cmd
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || cmd=""
  cmd="${cmd% }"
  if (( ${#cmd} > 300 )); then cmd="${cmd:0:300}..."; fi
  printf 'pid %s: %s -- from %s' "$pid" "${cmd:-(gone)}" "$(where_from "$pid")"
}

# describe_holders port: one line per process listening on port ("" when none).
describe_holders() {
  local pid found=""
  for pid in $(port_holders "$1"); do describe_pid "$pid"; echo; found=1; done
  if [[ -z "$found" ]] && port_listening "$1"; then
    echo "a process this user cannot see (not readable in /proc)"
  fi
}

# group_members pgid: the live pids of a process group (a detached process and its children).
group_members() {
  local stat line fields
  for stat in /proc/[0-9]*/stat; do
    { read -r line <"$stat"; } 2>/dev/null || continue
    # shellcheck disable=SC2206  # after "pid (comm) " only numbers and a state letter remain
    fields=(${line##*) })  # state ppid pgrp ...
    if [[ "${fields[2]:-}" == "$1" && "${fields[0]:-}" != Z ]]; then stat="${stat#/proc/}"; echo "${stat%/stat}"; fi
  done
}

# children_of pid: its child pids.
children_of() {
  cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true
}

# show_up name address pid [note]: a status line for a running component of ours.
show_up() {
  printf '%-9s up    %-22s pid %-7s from %s%s\n' "$1" "$2" "$3" "$(where_from "$3")" "${4:+  ($4)}"
}

# show_down name host port...: a status line for a component that is not running, and
# every process (not ours) that holds one of its ports.
show_down() {
  local name="$1" host="$2" port line; shift 2
  printf '%-9s down  %s\n' "$name" "$host:$1"
  for port in "$@"; do
    while IFS= read -r line; do
      if [[ -n "$line" ]]; then printf '          port %s held by another process, %s\n' "$port" "$line"; fi
    done <<<"$(describe_holders "$port")"
  done
}
