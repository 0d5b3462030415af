#!/bin/sh
# Makes sure PostgreSQL's server binaries (initdb, pg_ctl, postgres) are installed for the
# PostgreSQL store tests and benchmark, which start their own throwaway cluster on a free
# 127.0.0.1 port (scripts/pg-cluster.mjs) as an unprivileged user and delete it at the end.
# Installs Debian's `postgresql` when they are missing, without creating or starting the
# distribution's own cluster (nothing is left listening on 5432).
set -eu

found() {
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1
}

if ! found; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "csp-lens: PostgreSQL is missing; install it (Debian: sudo apt-get install -y postgresql) or set PG_BIN" >&2
    exit 1
  fi
  mkdir -p /etc/postgresql-common
  grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf ||
    echo 'create_main_cluster = false' >>/etc/postgresql-common/createcluster.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
found
echo "csp-lens: PostgreSQL $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || command -v initdb)"
