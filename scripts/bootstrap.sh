#!/usr/bin/env bash
# Prepares this machine for jetson-hil: a virtualenv (.venv) with the runner, and, only where a simulator is the
# target, the simulator's system packages (as root) and Python extras. Idempotent and quiet when there is nothing
# to do. What it installs is decided by scripts/install_mode.py (its docstring has the rules):
#   runner  pip install -e . into .venv, nothing else (a Jetson, a dGPU host, a real device's profile)
#   sim     also apt packages (docker.io, docker-compose, mosquitto, ...) and the [sim] extras (torch)
#   dev     also the [dev] extras the selftests use (the default where no Jetson or NVIDIA GPU is found)
# Usage: scripts/bootstrap.sh [--runner-only] [--decide] [PYTEST ARGS...]
#   --runner-only  the runner only, whatever the target (same as JETSON_HIL_INSTALL=runner)
#   --decide       print the mode and why, install nothing
#   PYTEST ARGS    a run's arguments: --device/--inventory/--hosts among them name the target
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf '[bootstrap] %s\n' "$*" >&2; }

py=${PYTHON:-python3}
decide_only=0
args=()
for arg in "$@"; do
  case $arg in
    --runner-only) export JETSON_HIL_INSTALL=runner ;;
    --decide) decide_only=1 ;;
    *) args+=("$arg") ;;
  esac
done
decision=$("$py" scripts/install_mode.py ${args[@]+"${args[@]}"})
mode=${decision%%:*}
if [ "$decide_only" = 1 ]; then
  echo "$decision"
  exit 0
fi

rank() { case $1 in runner) echo 0 ;; sim) echo 1 ;; *) echo 2 ;; esac; }
stamp=.venv/.jetson-hil-deps
want=$(sha256sum pyproject.toml | cut -c1-16)
have_hash="" have_mode=""
read -r have_hash have_mode 2>/dev/null < "$stamp" || true
have_mode=${have_mode:-${have_hash:+dev}}  # a stamp without a mode is from an install of everything
if [ "$have_hash" = "$want" ] && [ "$(rank "$have_mode")" -ge "$(rank "$mode")" ]; then
  exit 0
fi
if [ -n "${have_mode:-}" ] && [ "$(rank "$have_mode")" -gt "$(rank "$mode")" ]; then
  mode=$have_mode  # never narrower than what .venv already holds
fi

if [ "$mode" != runner ]; then
  apt_packages=(docker.io docker-compose mosquitto mosquitto-clients openssh-server openssh-client busybox-static sudo chromium)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for p in "${apt_packages[@]}"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
      say "installing ${missing[*]} (the simulator's packages; $decision)"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
  elif ! command -v docker >/dev/null || ! command -v mosquitto >/dev/null; then
    say "not root: install ${apt_packages[*]} yourself (docker.io, docker-compose and mosquitto are needed by the simulator)"
  fi
fi

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  if ! "$py" -m venv .venv; then
    say "$py -m venv failed: install your distribution's venv package (python3-venv) and run this again"
    exit 1
  fi
fi
case $mode in
  runner) extras="" ; say "installing the runner only ($decision)" ;;
  sim) extras="[sim]" ; say "installing the runner and the simulator's Python packages (torch takes a minute)" ;;
  *) extras="[sim,dev]" ; say "installing the runner, the simulator's and the selftests' Python packages (torch takes a minute)" ;;
esac
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".$extras"
echo "$want $mode" > "$stamp"
