#!/usr/bin/env bash
# From a fresh clone to a command's output inside a new sandbox on the local Docker engine.
set -euo pipefail
cd "$(dirname "$0")"

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "The Docker engine does not answer; start it (for example: sudo systemctl start docker) and run this again." >&2
  exit 4
fi
# Install when the lock file is newer than what is installed; the build takes a second.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build

name="quickstart-$(date +%H%M%S)"
# Builds the sandbox image on first use (a minute or two), then creates the sandbox with this folder in it.
node dist/cli.js start . --name "$name"
node dist/cli.js exec "$name" -- python3 -c 'import platform; print("hello from", platform.node(), platform.python_version())'
node dist/cli.js exec "$name" -- ls
echo
echo "Sandbox $name is running. Try: node dist/cli.js exec $name -- bash -lc 'git log --oneline | head -3'"
echo "Log in with OpenSSH: node dist/cli.js ssh $name"
echo "Remove it with: node dist/cli.js rm $name"
