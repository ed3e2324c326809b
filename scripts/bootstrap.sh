#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine for jetson-hil: system packages (as root), a virtualenv with
# the Python dependencies, and nothing else. Idempotent and quiet when there is nothing to do.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf '[bootstrap] %s\n' "$*" >&2; }

apt_packages=(docker.io docker-compose mosquitto mosquitto-clients openssh-server openssh-client busybox-static sudo chromium)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
elif ! command -v docker >/dev/null || ! command -v mosquitto >/dev/null; then
  say "not root: install ${apt_packages[*]} yourself (docker.io, docker-compose and mosquitto are needed by the simulator)"
fi

py=${PYTHON:-python3}
stamp=.venv/.jetson-hil-deps
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$py" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python dependencies (torch takes a minute)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[sim,dev]'
  echo "$want" > "$stamp"
fi
