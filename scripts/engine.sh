#!/usr/bin/env bash
# Makes sure a Docker engine answers. Shared by quickstart.sh and .ci/run, so a bare machine and
# CI get the engine the same way: on Debian or Ubuntu, as root (or with sudo on a terminal, after
# asking), docker.io from the distribution's packages, started by systemd where it runs as PID 1,
# else dockerd in the background with its log in /var/log/dockerd.log. Elsewhere it prints the
# next step for that system.
#
# Usage: scripts/engine.sh [--rerun COMMAND]   (COMMAND: what the messages say to run again)
# Exit status: 0 the engine answers; 4 it does not and nothing here starts it (the next step is
# printed); 5 it runs now but answers this account only in a new login or `sg docker` (the
# account was just added to the docker group); 1 installing or starting it failed (the reason is
# printed).
# Written for bash 3.2 as well (macOS), where it only reads the system and prints.
set -euo pipefail

ENGINE_DOWN=4
GROUP_PENDING=5
DOCKERD_LOG=/var/log/dockerd.log
RERUN="this again"
if [ "${1:-}" = "--rerun" ] && [ -n "${2:-}" ]; then RERUN="$2 again"; fi

say() { printf '%s\n' "$*" >&2; }
# The status of this script when it stops here, with the one sentence saying what to do.
stop_down() {
  say "$1"
  exit "$ENGINE_DOWN"
}

# `docker version` asks the engine (a bare client prints only its own version and fails).
# macOS has no `timeout`; there the client's own connection timeout has to do.
engine_answers() {
  if command -v timeout >/dev/null; then
    timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
  else
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1
  fi
}

engine_answers && exit 0

# What is there, for the messages below.
client_error=""
if command -v docker >/dev/null; then
  client_error="$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null | head -n 3 || true)"
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  stop_down "DOCKER_HOST is set to $DOCKER_HOST and no Docker engine answers there; start that engine, or unset DOCKER_HOST to use this machine's own, then run $RERUN."
fi

case "$(uname -s)" in
  Darwin)
    if command -v colima >/dev/null; then
      stop_down "No Docker engine answers and Colima is installed; start it with \`colima start\`, then run $RERUN."
    elif [ -d /Applications/Docker.app ]; then
      stop_down "No Docker engine answers and Docker Desktop is installed; open Docker Desktop, wait until it says the engine is running, then run $RERUN."
    fi
    stop_down "No Docker engine answers on this Mac; install Docker Desktop (https://docs.docker.com/desktop/setup/install/mac-install/) or Colima (\`brew install colima docker && colima start\`), then run $RERUN."
    ;;
  MINGW* | MSYS* | CYGWIN*)
    stop_down "No Docker engine answers on this Windows machine; install Docker Desktop (https://docs.docker.com/desktop/setup/install/windows-install/), start it, and run $RERUN from a WSL terminal."
    ;;
  Linux) ;;
  *)
    stop_down "No Docker engine answers on this $(uname -s) system; install and start a Docker engine for it (https://docs.docker.com/engine/install/), then run $RERUN."
    ;;
esac

if grep -qi microsoft /proc/sys/kernel/osrelease 2>/dev/null; then
  stop_down "No Docker engine answers in this WSL distribution; install Docker Desktop for Windows and turn on its WSL integration for this distribution (Settings > Resources > WSL integration), then run $RERUN."
fi

case "$client_error" in
  *"permission denied"*)
    stop_down "A Docker engine runs here but this account may not use its socket; run \`sudo usermod -aG docker $(id -un)\`, log in again, then run $RERUN."
    ;;
esac

os_id=""
os_like=""
os_name="this Linux"
if [ -r /etc/os-release ]; then
  # In a subshell, so none of its variables (VERSION, NAME...) lands in this script.
  # shellcheck source=/dev/null
  os_id="$(. /etc/os-release && printf '%s' "${ID:-}")"
  # shellcheck source=/dev/null
  os_like="$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")"
  # shellcheck source=/dev/null
  os_name="$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-${ID:-this Linux}}")"
fi
debian_like=false
case " $os_id $os_like " in
  *" debian "* | *" ubuntu "*) command -v apt-get >/dev/null && debian_like=true ;;
esac

if ! $debian_like; then
  start="sudo systemctl enable --now docker"
  case "$os_id" in
    fedora) step="install and start it with \`sudo dnf install -y moby-engine && $start\`" ;;
    arch | manjaro | endeavouros) step="install and start it with \`sudo pacman -S --needed docker && $start\`" ;;
    opensuse* | sles) step="install and start it with \`sudo zypper install -y docker && $start\`" ;;
    alpine) step="install and start it as root with \`apk add docker && rc-update add docker && service docker start\`" ;;
    *) step="install your distribution's Docker package (or Docker Engine from https://docs.docker.com/engine/install/) and start it (\`$start\`)" ;;
  esac
  stop_down "No Docker engine answers on $os_name, where this script installs none; $step, then run $RERUN."
fi

# Debian or Ubuntu from here. /usr/sbin is not on an ordinary account's PATH there.
has_dockerd() { command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || [ -x /usr/bin/dockerd ]; }
if has_dockerd; then
  found="No Docker engine answers on $os_name: dockerd is installed but does not run"
  plan="starting it"
  ask="start it"
else
  found="No Docker engine answers on $os_name: Docker is not installed"
  plan="installing docker.io from the distribution's packages and starting it"
  ask="install docker.io from the distribution's packages, start it"
fi
in_group() { id -nG | tr ' ' '\n' | grep -qx docker; }
by_hand="sudo systemctl enable --now docker"
has_dockerd || by_hand="sudo apt-get install -y docker.io && $by_hand"
relogin=""
in_group || { by_hand="$by_hand && sudo usermod -aG docker $(id -un)" && relogin=" (then log in again)"; }
as_root=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    stop_down "$found, and this account can install none (it is not root and has no sudo); ask an administrator to install docker.io and add you to the docker group, or set up rootless Docker (https://docs.docker.com/engine/security/rootless/), then run $RERUN."
  fi
  if [ ! -t 0 ]; then
    stop_down "$found, and sudo cannot ask for a password without a terminal; run $RERUN in a terminal, or do it yourself: \`$by_hand\`$relogin."
  fi
  in_group || ask="$ask and add $(id -un) to the docker group"
  printf '%s' "$found; $ask, with sudo? [y/N] " >&2
  read -r answer || answer=""
  case "$answer" in
    y | Y | yes | Yes | YES) as_root="sudo" ;;
    *) stop_down "Nothing was changed; to do it yourself: \`$by_hand\`$relogin, then run $RERUN." ;;
  esac
else
  say "$found; $plan, as root."
fi

if ! has_dockerd; then
  say "Running apt-get install docker.io."
  if ! $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
    ! $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null; then
    say "Installing docker.io failed (apt-get's messages are above); fix what apt-get says, then run $RERUN."
    exit 1
  fi
fi

# As root (directly or through sudo), so the wait does not depend on this account's group.
root_engine_answers() {
  $as_root timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

if [ -d /run/systemd/system ]; then
  say "Starting the engine with systemd (systemctl enable --now docker)."
  $as_root systemctl enable --now docker || {
    say "systemd could not start the engine; see \`sudo journalctl -u docker\`, then run $RERUN."
    exit 1
  }
else
  say "Starting dockerd in the background (no systemd here); its log is $DOCKERD_LOG."
  $as_root sh -c "setsid dockerd >$DOCKERD_LOG 2>&1 </dev/null &"
fi
for _ in $(seq 1 60); do
  root_engine_answers && break
  sleep 1
done
if ! root_engine_answers; then
  say "dockerd did not start; its log:"
  $as_root tail -n 50 "$DOCKERD_LOG" >&2 2>/dev/null || $as_root journalctl -u docker -n 50 --no-pager >&2 || true
  exit 1
fi

if [ -n "$as_root" ]; then
  in_group || sudo usermod -aG docker "$(id -un)"
  if ! engine_answers; then
    say "The Docker engine runs now and $(id -un) is in the docker group, which counts from the next login; run \`newgrp docker\` to use it from this shell."
    exit "$GROUP_PENDING"
  fi
fi
say "The Docker engine answers (version $(docker version --format '{{.Server.Version}}'))."
