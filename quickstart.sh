#!/usr/bin/env bash
# From a fresh clone to a command's output inside a new sandbox on the local Docker engine.
set -euo pipefail
cd "$(dirname "$0")"

# A Docker engine: found, or on Debian/Ubuntu installed and started (as root, or with sudo after
# asking); elsewhere the next step is printed and this stops with status 4.
engine=0
bash scripts/engine.sh --rerun ./quickstart.sh || engine=$?
if [ "$engine" -eq 5 ]; then
  # This account just joined the docker group: the rest of this run goes on in that group.
  if [ -z "${QUICKSTART_IN_DOCKER_GROUP:-}" ] && command -v sg >/dev/null; then
    echo "Going on in the docker group for this run (sg docker)." >&2
    QUICKSTART_IN_DOCKER_GROUP=1 exec sg docker -c ./quickstart.sh
  fi
  echo "Run \`newgrp docker\` (or log in again), then ./quickstart.sh again." >&2
  exit 4
fi
[ "$engine" -eq 0 ] || exit "$engine"
# npm ci when node_modules is missing or older than package-lock.json; the build takes a second.
bash scripts/ensure-deps.sh
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
