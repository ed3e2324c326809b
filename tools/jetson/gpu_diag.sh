#!/usr/bin/env bash
# Runbook Task 1: repeatable Jetson GPU diagnostics.
#
# Prints one part per "--- name ---" header, always in this order and always every header:
#   host, /etc/nv_tegra_release, device model, CUDA version, nvcc --version, JetPack packages,
#   tegrastats (Ns), docker runtimes
# A part that cannot be read says why ("not found: ...", "needs root: sudo -n failed", "timed out after Ns")
# and the script goes on: it always exits 0. Nothing prompts (sudo -n only, stdin is /dev/null) and every
# command runs under `timeout`, so the script cannot hang on a wedged daemon or a tegrastats that never stops.
#
# Environment:
#   GPU_DIAG_TIMEOUT              seconds allowed to each command (default 10)
#   GPU_DIAG_TEGRASTATS_SECONDS   how long tegrastats is sampled (default 3)
#   GPU_DIAG_TEGRASTATS_INTERVAL  tegrastats --interval in ms (default 1000)

set -u

part_timeout=${GPU_DIAG_TIMEOUT:-10}
tegra_seconds=${GPU_DIAG_TEGRASTATS_SECONDS:-3}
tegra_interval=${GPU_DIAG_TEGRASTATS_INTERVAL:-1000}

header() { printf -- '--- %s ---\n' "$1"; }
have() { command -v "$1" >/dev/null 2>&1; }

# Run a command with a time limit, no stdin; says so when the limit was hit.
limited() {
  local rc
  if have timeout; then
    timeout -k 2 "$part_timeout" "$@" </dev/null
    rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      echo "timed out after ${part_timeout}s: $*"
    fi
    return "$rc"
  fi
  "$@" </dev/null
}

is_root() { [ "$(id -u 2>/dev/null || echo 1)" = "0" ]; }

# Whether root commands can run without a password: root already, or a passwordless sudo.
can_root() {
  is_root && return 0
  have sudo || return 1
  limited sudo -n true >/dev/null 2>&1
}

as_root() {
  if is_root; then "$@"; else sudo -n "$@"; fi
}

header "host"
printf 'HOST: %s\n' "$(hostname 2>/dev/null || cat /etc/hostname 2>/dev/null || echo unknown)"
printf 'DATE: %s\n' "$(date 2>/dev/null)"
printf 'KERNEL: %s\n' "$(uname -srm 2>/dev/null)"
printf 'USER: %s (uid %s)\n' "$(id -un 2>/dev/null || echo unknown)" "$(id -u 2>/dev/null || echo '?')"

header "/etc/nv_tegra_release"
if [ -r /etc/nv_tegra_release ]; then
  cat /etc/nv_tegra_release
elif [ -e /etc/nv_tegra_release ]; then
  echo "not readable: /etc/nv_tegra_release"
else
  echo "not found: /etc/nv_tegra_release (not an L4T host?)"
fi

header "device model"
if [ -r /proc/device-tree/model ]; then
  tr -d '\000' </proc/device-tree/model
  echo
elif [ -r /tmp/nv_jetson_model ]; then
  cat /tmp/nv_jetson_model
  echo
else
  echo "not found: /proc/device-tree/model"
fi

header "CUDA version"
cuda_found=0
if [ -r /usr/local/cuda/version.txt ]; then
  echo "version.txt: $(cat /usr/local/cuda/version.txt)"
  cuda_found=1
fi
if [ -r /usr/local/cuda/version.json ]; then
  # The "cuda" entry only; the file lists every component.
  echo "version.json:"
  grep -A 3 '"cuda" *:' /usr/local/cuda/version.json 2>/dev/null | grep -m 1 '"version"' \
    || echo "no \"cuda\" entry in /usr/local/cuda/version.json"
  cuda_found=1
fi
if [ "$cuda_found" -eq 0 ]; then
  echo "not found: /usr/local/cuda/version.txt or version.json"
fi

header "nvcc --version"
# JetPack installs nvcc at /usr/local/cuda/bin, which is often not on PATH.
nvcc_bin=""
if have nvcc; then
  nvcc_bin=$(command -v nvcc)
elif [ -x /usr/local/cuda/bin/nvcc ]; then
  nvcc_bin=/usr/local/cuda/bin/nvcc
fi
if [ -n "$nvcc_bin" ]; then
  echo "path: $nvcc_bin"
  limited "$nvcc_bin" --version 2>&1 || echo "nvcc --version failed"
else
  echo "not found: nvcc (neither on PATH nor /usr/local/cuda/bin/nvcc)"
fi

header "JetPack packages"
if have dpkg; then
  pkgs=$(limited dpkg -l 2>/dev/null | grep -E "nvidia-jetpack|nvidia-l4t-core|cuda|cudnn|tensorrt")
  if [ -n "$pkgs" ]; then
    printf '%s\n' "$pkgs"
  else
    echo "not found: no nvidia-jetpack, nvidia-l4t-core, cuda, cudnn or tensorrt package in dpkg -l"
  fi
else
  echo "not found: dpkg"
fi

header "tegrastats (${tegra_seconds}s)"
if have tegrastats; then
  tegra_cmd=""
  if is_root; then
    tegra_cmd="tegrastats"
  elif can_root; then
    tegra_cmd="sudo -n tegrastats"
  else
    # tegrastats runs unprivileged too, without clocks, engines and (on Orin) some rails.
    echo "needs root: sudo -n failed; running tegrastats without root (fewer fields)"
    tegra_cmd="tegrastats"
  fi
  if have timeout; then
    # timeout ends the sampling; its exit status 124 is the normal case here.
    # shellcheck disable=SC2086
    timeout -k 2 "$tegra_seconds" $tegra_cmd --interval "$tegra_interval" </dev/null 2>&1
  else
    # shellcheck disable=SC2086
    $tegra_cmd --interval "$tegra_interval" </dev/null 2>&1 &
    tegra_pid=$!
    sleep "$tegra_seconds"
    kill "$tegra_pid" 2>/dev/null
    wait "$tegra_pid" 2>/dev/null
  fi
else
  echo "tegrastats not found"
fi

header "docker runtimes"
if have docker; then
  info=$(limited docker info 2>&1)
  rc=$?
  if [ "$rc" -ne 0 ] && ! is_root; then
    if can_root; then
      info=$(limited sudo -n docker info 2>&1)
      rc=$?
    else
      echo "needs root: sudo -n failed (and docker info as $(id -un 2>/dev/null) failed)"
    fi
  fi
  lines=$(printf '%s\n' "$info" | grep -E '^[[:space:]]*(Runtimes|Default Runtime):')
  if [ -n "$lines" ]; then
    printf '%s\n' "$lines"
  else
    echo "docker info gave no Runtimes / Default Runtime lines (exit $rc):"
    printf '%s\n' "$info" | tail -n 3
  fi
else
  echo "not found: docker"
fi

exit 0
