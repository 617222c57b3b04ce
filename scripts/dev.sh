#!/usr/bin/env bash
# Set up everything napari-scdl needs on a fresh Debian machine, then demo or test.
#   bash scripts/dev.sh demo [--screenshot PNG]   install + open napari on the built-in sample
#   bash scripts/dev.sh test [PYTEST ARGS]        install + run the whole test suite (virtual display)
# Installs: Debian packages for Qt/Xvfb (apt-get, as root or via sudo), a virtual environment
# in .venv (override with SCDL_VENV) with torch pinned first (CPU build where available),
# then the package with its Qt and test extras. Re-runs skip what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${SCDL_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_PIN="torch==2.13.0"
APT_PKGS=(xvfb xauth libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-cursor0
  libxkbcommon-x11-0 libdbus-1-3 libfontconfig1 libegl1 libgl1-mesa-dri libglib2.0-0)

log() { printf '\033[1m[napari-scdl]\033[0m %s\n' "$*" >&2; }

install_system() {
  local missing=()
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python() {
  local stamp="$VENV/.scdl-installed"
  local want
  want="$(cat pyproject.toml scripts/dev.sh | sha1sum | cut -c1-40)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  log "installing $TORCH_PIN first (no CUDA packages on CPU machines)"
  "$VENV/bin/pip" install -q "$TORCH_PIN"
  log "installing napari-scdl with its Qt and test extras"
  "$VENV/bin/pip" install -q -e ".[qt,test]"
  echo "$want" > "$stamp"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  demo)
    install_system
    install_python
    if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
      exec "$VENV/bin/napari-scdl" view "$@"
    fi
    out="${SCDL_SCREENSHOT:-napari-scdl-demo.png}"
    log "no display: running under Xvfb and saving a screenshot to $out"
    exec xvfb-run -a -s "-screen 0 1600x1000x24" "$VENV/bin/napari-scdl" view --screenshot "$out" "$@"
    ;;
  test)
    install_system
    install_python
    log "running the test suite (pytest-xvfb provides the virtual display)"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: bash scripts/dev.sh demo [--screenshot PNG] | test [PYTEST ARGS]" >&2
    exit 2
    ;;
esac
