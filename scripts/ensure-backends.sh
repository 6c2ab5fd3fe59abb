#!/usr/bin/env bash
# Makes sure the engines the tests run against are installed: redis-server,
# etcd and PostgreSQL (initdb + postgres). As root it installs what is missing
# from Debian's packages; otherwise it prints the exact command and fails.
set -euo pipefail

have_pg() {
  command -v postgres >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
have_pg || missing+=(postgresql)
# Headless browser for examples/shortener's browser test.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# PostgreSQL refuses to run as root; the tests run it as the postgres user.
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  case " ${missing[*]-} " in *" postgresql "*) ;; *) missing+=(postgresql) ;; esac
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "backends: redis-server, etcd, postgres and chromium are installed"
  exit 0
fi

cmd="apt-get install -y ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "backends missing: ${missing[*]}" >&2
  echo "install them with: sudo apt-get update && sudo $cmd" >&2
  exit 1
fi
echo "backends: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged services where it can; the tests start their own
# throwaway servers on free ports and do not use these.
echo "backends: installed ${missing[*]}"
