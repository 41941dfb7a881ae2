#!/usr/bin/env bash
# Installs what test/e2e needs: Chromium and tesseract from Debian, and code-server (the real
# VS Code) with playwright-core into this folder, apart from the extension's own dependencies.
# Idempotent: skips what is already in place.
# Works offline except for the npm registry and Debian's mirror (see the workarounds below).
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v rg >/dev/null || need+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
command -v make >/dev/null || need+=(make)
command -v g++ >/dev/null || need+=(g++)
command -v python3 >/dev/null || need+=(python3)
# OCR, to read a screenshot of the UI test back
command -v tesseract >/dev/null || need+=(tesseract-ocr tesseract-ocr-eng)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

stamp=node_modules/.installed-from
fingerprint() { cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16; }
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(fingerprint)" ] && [ -x node_modules/.bin/code-server ]; then
  echo "code-server $(node -p "require('./node_modules/code-server/package.json').version") already installed"
  exit 0
fi

# @vscode/ripgrep downloads rg from GitHub in its postinstall; hand it Debian's rg in its cache.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cache="$tmp/vscode-ripgrep-cache-1.15.11"
mkdir -p "$cache" "$tmp/rg"
cp "$(command -v rg)" "$tmp/rg/rg"
tar -C "$tmp/rg" -czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" rg

# As root, code-server's postinstall needs unsafe-perm; node-pty's build runs `npx node-gyp`.
export TMPDIR="$tmp" npm_config_unsafe_perm=true npm_config_yes=true
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
fingerprint >"$stamp"
echo "code-server $(node -p "require('./node_modules/code-server/package.json').version") installed"
