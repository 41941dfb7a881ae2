#!/usr/bin/env bash
# Installs this checkout's dependencies (`npm ci`) when node_modules is missing or older than
# package-lock.json; quiet when they are current. Shared by quickstart.sh and `npm test` (its
# pretest), so a fresh clone needs no step of its own before either.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
  exit 0
fi
# A link to another checkout's node_modules is that checkout's to install: npm ci here would
# empty it under the other one.
if [ -L node_modules ]; then
  echo "node_modules here is a link to $(readlink node_modules), older than this package-lock.json or incomplete; it is left as it is: run \`npm ci\` in the checkout it belongs to if the dependencies changed." >&2
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "npm is not on PATH, so the dependencies cannot be installed; install Node.js 20.19 or newer (it comes with npm), then run this again." >&2
  exit 1
fi
echo "Installing the dependencies with npm ci: node_modules is missing or older than package-lock.json." >&2
if ! npm ci --no-audit --no-fund; then
  echo "npm ci failed (its messages are above); fix what it says and run \`npm ci\`, then run this again." >&2
  exit 1
fi
