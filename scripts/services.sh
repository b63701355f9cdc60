#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, trust auth) and Redis (127.0.0.1:6379) are up.
# Starts them when they are down; installs them with apt-get on a bare host.
set -euo pipefail

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

install_packages() {
  echo "services: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}

if ! pg_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    install_packages postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  conf_dir=/etc/postgresql/$version/main
  # Trust auth on loopback for the local test/dev user, as on the reference machines.
  if ! grep -q "principled-trust" "$conf_dir/pg_hba.conf"; then
    sed -i '1i host all all 127.0.0.1/32 trust # principled-trust\nhost all all ::1/128 trust # principled-trust\nlocal all all trust # principled-trust' "$conf_dir/pg_hba.conf"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "services: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }

if ! redis_up; then
  command -v redis-server >/dev/null 2>&1 || install_packages redis-server
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
redis_up || { echo "services: Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
echo "services: PostgreSQL and Redis are up" >&2
