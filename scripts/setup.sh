#!/usr/bin/env bash
# Everything `npm start` and `npm test` need on a fresh machine, idempotent:
#   1. Node.js 20.19 or newer must be present (it runs this script's npm;
#      vitest's vite needs ^20.19 or >= 22.12).
#   2. npm dependencies, installed with `npm ci` when the lockfile changed.
#   3. A WebGPU adapter. When Dawn finds none, install Mesa's software Vulkan
#      driver (lavapipe). Debian bookworm's own Mesa (22.3) is too old for
#      Dawn, so on bookworm it comes from bookworm-backports.
#   4. With --browser (npm test): a headless Chromium for the report test
#      (Debian's chromium package; playwright-core drives it).
#   5. With --slurm (npm test): a one-node Slurm cluster on this machine for
#      the Slurm tests (scripts/slurm/start-local-slurm.sh): installed and
#      started as root; left running, so the next run finds it up (0.1 s). Where
#      that cannot be done (not root, no apt-get…), the reason goes to
#      node_modules/.thaw-slurm and the Slurm tests fail with it, or, with
#      THAW_REQUIRE_SLURM=1 (CI), this script fails.
#   6. With --torch (npm run bench, npm test): PyTorch for the CPU peer of `thaw bench
#      step` (Debian's python3-torch) and OpenBLAS (libopenblas0-pthread):
#      with the reference BLAS that python3-torch pulls in (libblas3) that step
#      takes ~2450 ms, with OpenBLAS ~184 ms, so a peer without it is no peer.
#      Where it cannot be installed (not root, no apt-get), the benchmark runs
#      without the PyTorch column and says why, and the peer's tests fail
#      naming the same reason.
#   7. The build: TypeScript and the kernel compiler (turbo caches both).
#   8. The `thaw` bin link, so that `npx thaw` runs this checkout's command.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
say() { echo "[setup] $*" >&2; }

browser=0 slurm=0 torch=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    --slurm) slurm=1 ;;
    --torch) torch=1 ;;
    *) say "unknown option $arg (known: --browser, --slurm, --torch)"; exit 2 ;;
  esac
done

if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  say "Node.js $(node --version) is too old; Thaw needs Node.js 20.19 or newer."
  exit 1
fi

lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.thaw-lock-hash
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > "$stamp"
fi

install_commands() {
  # The commands that install lavapipe on this system, one per line.
  . /etc/os-release 2>/dev/null || true
  case "${ID:-}:${VERSION_CODENAME:-}" in
    debian:bookworm)
      echo "echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/bookworm-backports.list"
      echo "apt-get update"
      echo "DEBIAN_FRONTEND=noninteractive apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1"
      ;;
    debian:*|ubuntu:*)
      echo "apt-get update"
      echo "DEBIAN_FRONTEND=noninteractive apt-get install -y mesa-vulkan-drivers libvulkan1"
      ;;
    *) return 1 ;;
  esac
}

if ! node scripts/probe-adapter.mjs; then
  if ! commands=$(install_commands); then
    say "no WebGPU adapter, and this is not Debian or Ubuntu: install a Vulkan (or Metal/D3D12) driver"
    say "with WebGPU support, e.g. Mesa's lavapipe (package mesa-vulkan-drivers, Mesa 23 or newer), then rerun."
    exit 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    say "no WebGPU adapter. Install Mesa's software Vulkan driver as root, then rerun."
    say "With sudo:"
    while IFS= read -r command; do echo "  sudo bash -c \"$command\"" >&2; done <<< "$commands"
    say "Or with su:"
    while IFS= read -r command; do echo "  su -c \"$command\"" >&2; done <<< "$commands"
    exit 1
  fi
  say "no WebGPU adapter: installing Mesa's software Vulkan driver (lavapipe)"
  # Skip adding the suite only when apt already uses it (not when a
  # commented-out or disabled entry merely mentions it).
  if apt-cache policy 2>/dev/null | grep -q 'bookworm-backports'; then
    commands=$(echo "$commands" | grep -v '^echo ')
  fi
  while IFS= read -r command; do
    say "+ $command"
    bash -c "$command" >&2
  done <<< "$commands"
  node scripts/probe-adapter.mjs || { say "still no WebGPU adapter after installing lavapipe"; exit 1; }
fi

find_chromium() {
  command -v chromium || command -v chromium-browser || command -v google-chrome || return 1
}

if [ "$browser" = 1 ] && [ -z "${THAW_CHROMIUM:-}" ] && ! find_chromium >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    say "no Chromium for the report test. Install it as root (sudo apt-get install chromium), or point THAW_CHROMIUM at a Chrome/Chromium binary."
    exit 1
  fi
  say "installing Chromium for the report test"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2
fi

slurm_answers() {
  # A node that takes jobs: the local cluster, or one someone else runs here.
  timeout 5 sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated|completing)$'
}

if [ "$slurm" = 1 ]; then
  slurm_state=node_modules/.thaw-slurm
  why=
  if [ "$(id -u)" -eq 0 ]; then
    start_log=$(mktemp)
    # The script's messages go to the terminal and to start_log (for the reason).
    if { bash scripts/slurm/start-local-slurm.sh 2>&1 1>&3 3>&- | tee "$start_log" >&2; } 3>&1; then
      echo "ready: the local cluster of scripts/slurm/start-local-slurm.sh" > "$slurm_state"
    else
      said=$(grep -m 1 'error:' "$start_log" || tail -n 1 "$start_log")
      why="scripts/slurm/start-local-slurm.sh failed: ${said#\[slurm-local\] error: }"
    fi
    rm -f "$start_log"
  elif slurm_answers; then
    echo "ready: a Slurm cluster answers (not started by this set-up)" > "$slurm_state"
  else
    why="not root: the local Slurm cluster for the Slurm tests is installed and started as root (sudo bash scripts/slurm/start-local-slurm.sh)"
  fi
  if [ -n "$why" ]; then
    echo "unavailable: $why" > "$slurm_state"
    if [ "${THAW_REQUIRE_SLURM:-}" = 1 ]; then
      say "no Slurm cluster, and THAW_REQUIRE_SLURM=1: $why"
      exit 1
    fi
    say "no Slurm cluster, so the Slurm tests will fail: $why"
  fi
fi

torch_ready() {
  # The interpreters thaw bench step tries, in its order (packages/cli/src/bench/torch-peer.ts).
  local python
  for python in /usr/bin/python3 python3; do
    command -v "$python" >/dev/null 2>&1 && "$python" -c 'import torch' >/dev/null 2>&1 && return 0
  done
  return 1
}

openblas_ready() {
  dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q 'install ok installed'
}

if [ "$torch" = 1 ] && ! { torch_ready && openblas_ready; }; then
  packages="python3-torch libopenblas0-pthread"
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    say "no PyTorch with OpenBLAS for the peer of thaw bench step; it runs without the PyTorch column."
    say "To have it, install as root: apt-get install $packages"
  else
    say "installing PyTorch and OpenBLAS for the peer of thaw bench step ($packages)"
    if ! { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages >&2; }; then
      say "could not install $packages; thaw bench step runs without the PyTorch column"
    fi
  fi
fi

npx turbo run build --output-logs=errors-only

# npm links a workspace's bin only if its file exists, and dist/main.js does not
# before the first build: link `thaw` now, so that `npx thaw` runs this
# checkout's command (never a registry package of that name).
if [ ! -x node_modules/.bin/thaw ]; then
  npm rebuild --ignore-scripts --no-audit --no-fund @thaw/cli >/dev/null
fi
