#!/usr/bin/env bash
# Sets flowgate up on a fresh machine and runs the demo:
#   1. system packages the tests and the demo use, when missing — redis-server,
#      a C compiler (the process launcher), chromium (dashboard tests),
#      docker-compose (static check of docker-compose.yml), graphviz (`flowgate
#      dag` rendering), nipype (side-by-side conformance tests) and openssl (the
#      TLS Redis test) — with apt-get
#      (as root or through sudo) or brew; otherwise it prints what to install;
#   2. npm ci (when node_modules is missing or older than package-lock.json,
#      and always under CI=true);
#   3. npm run demo (builds, then runs examples/demo.yaml; starts a private
#      redis-server when no Redis answers).
# Then `npm test` runs every suite; a suite whose tool is still missing is
# skipped with a counted message (under CI=true it fails instead).
#
# FLOWGATE_SETUP_SYSTEM=0 skips step 1; FLOWGATE_SETUP_DEMO=0 skips step 3.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '== %s\n' "$*"; }
warn() { printf '!! %s\n' "$*" >&2; }

# --- Node.js 20+ --------------------------------------------------------------
if ! command -v node >/dev/null 2>&1; then
  warn "Node.js 20 or later is needed (https://nodejs.org); it is the one thing this script does not install."
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  warn "Node.js $(node --version) is too old: flowgate needs 20 or later."
  exit 1
fi
say "node $(node --version), npm $(npm --version)"

# --- system packages ----------------------------------------------------------
# tool on PATH -> apt packages, brew formula, what it is for (bash 3 on macOS: no associative arrays)
apt_pkgs() { case "$1" in cc) echo "gcc libc6-dev" ;; dot) echo graphviz ;; nipype) echo python3-nipype ;; *) echo "$1" ;; esac; }
brew_pkg() { case "$1" in redis-server) echo redis ;; cc) echo "" ;; chromium) echo "--cask chromium" ;; dot) echo graphviz ;; nipype) echo "" ;; *) echo "$1" ;; esac; }
why() {
  case "$1" in
    redis-server) echo "the demo and the integration tests" ;;
    cc) echo "the process launcher (faster node starts; Linux)" ;;
    chromium) echo "the dashboard tests" ;;
    docker-compose) echo "the static docker-compose.yml check" ;;
    dot) echo "rendering \`flowgate dag\` output in a test (graphviz)" ;;
    nipype) echo "the side-by-side conformance tests against nipype (apt: python3-nipype; elsewhere: pip install nipype)" ;;
    openssl) echo "the TLS Redis test (certificates made by the test)" ;;
  esac
}

have() {
  case "$1" in
    chromium) [ -n "${FLOWGATE_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ;;
    docker-compose) command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 ;;
    cc) [ "$(uname -s)" != Linux ] || command -v "${CC:-cc}" >/dev/null 2>&1 ;;
    nipype) /usr/bin/python3 -c 'import nipype' >/dev/null 2>&1 || python3 -c 'import nipype' >/dev/null 2>&1 ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
tried=0
for tool in redis-server cc chromium docker-compose dot nipype openssl; do have "$tool" || missing+=("$tool"); done

if [ "${FLOWGATE_SETUP_SYSTEM:-1}" = 0 ] || [ "${#missing[@]}" -eq 0 ]; then
  [ "${#missing[@]}" -eq 0 ] && say "system packages: all there (redis-server, cc, chromium, docker-compose, graphviz, nipype, openssl)"
elif command -v apt-get >/dev/null 2>&1; then
  pkgs=()
  for tool in "${missing[@]}"; do read -r -a p <<<"$(apt_pkgs "$tool")"; pkgs+=("${p[@]}"); done
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n)
    elif command -v sudo >/dev/null 2>&1 && [ -t 0 ]; then sudo=(sudo)
    else sudo=(none); fi
  fi
  if [ "${sudo[*]}" = none ]; then
    warn "missing: ${missing[*]}; not root and no sudo, so install them yourself:"
    warn "  apt-get install -y --no-install-recommends ${pkgs[*]}"
  else
    say "installing with apt-get: ${pkgs[*]}"
    tried=1
    apt_install() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >/dev/null; }
    apt_install || { "${sudo[@]}" apt-get update >/dev/null && apt_install; } \
      || warn "apt-get could not install ${pkgs[*]} (see above); the tests that need them will be skipped"
  fi
elif command -v brew >/dev/null 2>&1; then
  for tool in "${missing[@]}"; do
    formula="$(brew_pkg "$tool")"
    if [ -z "$formula" ]; then continue; fi
    say "installing with brew: $formula"
    tried=1
    # shellcheck disable=SC2086 # "--cask chromium" is two words on purpose
    brew install $formula || warn "brew could not install $formula"
  done
else
  warn "neither apt-get nor brew is here: install these yourself, or their tests are skipped:"
  for tool in "${missing[@]}"; do warn "  $tool — for $(why "$tool")"; done
fi
still=()
[ "$tried" = 1 ] && for tool in ${missing[@]+"${missing[@]}"}; do have "$tool" || still+=("$tool"); done
for tool in ${still[@]+"${still[@]}"}; do warn "still missing: $tool — needed for $(why "$tool")"; done

# --- npm dependencies ---------------------------------------------------------
if [ "${CI:-}" = true ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
else
  say "node_modules is up to date with package-lock.json (npm ci skipped)"
fi

# --- the demo -----------------------------------------------------------------
if [ "${FLOWGATE_SETUP_DEMO:-1}" != 0 ]; then
  say "npm run demo"
  npm run demo
fi
say "set up. Next: npm test"
