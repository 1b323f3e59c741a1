#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the storage tests: a free loopback port, a tmp dir, no fsync.
#
#   url="$(scripts/ci-postgres.sh)"          # start; prints postgresql+psycopg://suishen@127.0.0.1:PORT/postgres
#   scripts/ci-postgres.sh --stop "$url"     # stop it and remove its files
#
# Installs PostgreSQL with apt-get when no initdb/pg_ctl is found (as root only). As root, the
# cluster runs as the `postgres` user, since initdb refuses to run as root. Progress goes to
# stderr; stdout carries only the URL, so that `$(...)` captures it.
set -euo pipefail

say() { echo "ci-postgres: $*" >&2; }

cluster_dir() { echo "${TMPDIR:-/tmp}/suishen-pg-$1"; }

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin /usr/local/bin /usr/bin; do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [[ "${1:-}" == "--stop" ]]; then
  url="${2:?usage: ci-postgres.sh --stop URL}"
  port="${url##*:}"
  port="${port%%/*}"
  dir="$(cluster_dir "$port")"
  bin="$(find_bin)" || { say "no pg_ctl found"; exit 1; }
  if [[ -d "$dir/data" ]]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
  fi
  rm -rf "$dir"
  say "stopped the cluster on port $port"
  exit 0
fi

if ! bin="$(find_bin)"; then
  if [[ $(id -u) -ne 0 ]]; then
    say "PostgreSQL (initdb, pg_ctl) is not installed and installing needs root: apt-get install postgresql"
    exit 1
  fi
  say "installing PostgreSQL with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  bin="$(find_bin)" || { say "apt-get installed PostgreSQL but no initdb was found"; exit 1; }
fi
if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin postgres
fi

# A free port: the OS picks one; the directory named after it is the lock against a second caller.
for _ in 1 2 3 4 5; do
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  dir="$(cluster_dir "$port")"
  mkdir "$dir" 2>/dev/null && break
  dir=""
done
[[ -n "$dir" ]] || { say "could not find a free port"; exit 1; }
if [[ $(id -u) -eq 0 ]]; then
  chown postgres: "$dir"
fi
chmod 700 "$dir"

as_owner "$bin/initdb" -D "$dir/data" -U suishen --auth=trust --encoding=UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
options="-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if ! as_owner "$bin/pg_ctl" -D "$dir/data" -o "$options" -l "$dir/server.log" -w -t 30 start >&2; then
  cat "$dir/server.log" >&2
  exit 1
fi
say "PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port, files in $dir"
echo "postgresql+psycopg://suishen@127.0.0.1:$port/postgres"
