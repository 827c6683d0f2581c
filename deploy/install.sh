#!/bin/sh
# Installs an educard service on Raspberry Pi OS or Debian from a checkout: its Debian packages, the
# built service under PREFIX with its production npm packages, its command, the service user and
# directories (deploy/prepare-host.sh) and its systemd unit. deploy/install-gateway.sh and
# deploy/install-bridge.sh run it; the Debian packages (npm run package) are the other way in.
#   sudo deploy/install-gateway.sh      (docs/install.md)
#   sudo deploy/install-bridge.sh       (docs/install-bridge.md)
set -eu

SERVICE=${1:?which service: gateway or bridge}
shift
case "$SERVICE" in
  gateway)
    APT_PACKAGES="pcscd libpcsclite-dev gpiod libgpiod-dev build-essential python3 ca-certificates"
    APT_WHY="pcscd libpcsclite-dev (card readers), gpiod libgpiod-dev (gate IO), build tools for the native modules"
    COMMAND=educard
    COMMAND_ENTRY=gateway/dist/cli/main.js
    ;;
  bridge)
    APT_PACKAGES="build-essential python3 ca-certificates"
    APT_WHY="build tools for the native modules (SQLite, argon2)"
    COMMAND=educard-bridge
    COMMAND_ENTRY=cloud-bridge/dist/cli/main.js
    ;;
  *) echo "unknown service: $SERVICE (gateway or bridge)" >&2; exit 2 ;;
esac
UNIT=educard-$SERVICE.service

usage() {
  cat <<USAGE
usage: deploy/install-$SERVICE.sh [--prefix DIR] [--root DIR] [--no-apt] [--no-build] [--copy-modules]$([ "$SERVICE" = bridge ] && printf ' [-- INIT-FLAGS...]')

  --prefix DIR   where the $SERVICE goes (default /opt/educard)
  --root DIR     stage everything under DIR instead of / (an image build, a test): no packages,
                 no user, no systemctl$([ "$SERVICE" = bridge ] && printf ', no keys or tokens (init runs on the machine itself)')
  --no-apt       do not install Debian packages (they are there already)
  --no-build     use the $SERVICE already built in this checkout (npm ci && npm run build)
  --copy-modules copy this checkout's production npm packages instead of installing them from the
                 npm registry (offline installs; the checkout's native modules must suit this machine)
USAGE
  if [ "$SERVICE" = bridge ]; then
    cat <<'USAGE'
  -- INIT-FLAGS  flags for educard-bridge init when there is no /etc/educard/bridge.json yet
                 (--mqtt-host 0.0.0.0 by default, so gateways reach the broker)

example: sudo deploy/install-bridge.sh -- --mqtt-host 0.0.0.0 --mqtt-public-url mqtt://bridge.district.example:1883
USAGE
  else
    printf '\nexample: sudo deploy/install-gateway.sh\n'
  fi
}

PREFIX=/opt/educard
ROOT=
APT=yes
BUILD=yes
MODULES=install
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --root) ROOT=${2:?--root needs a directory}; APT=no; shift 2 ;;
    --no-apt) APT=no; shift ;;
    --no-build) BUILD=no; shift ;;
    --copy-modules) MODULES=copy; shift ;;
    --) shift; break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ "$SERVICE" = bridge ] && [ $# -eq 0 ] && set -- --mqtt-host 0.0.0.0

SOURCE=$(cd "$(dirname "$0")/.." && pwd)
step() { printf '==> %s\n' "$*"; }

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
  echo "run it as root: sudo $0 $*" >&2
  exit 1
fi

NODE=$(command -v node || true)
if [ -z "$NODE" ] || ! "$NODE" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "Node.js 20.19 or later is needed (found: ${NODE:+$("$NODE" --version)}${NODE:-none})." >&2
  echo "Install it, e.g. from NodeSource:" >&2
  echo "  curl -fsSL https://deb.nodesource.com/setup_20.x | sudo bash - && sudo apt-get install -y nodejs" >&2
  exit 1
fi

if [ "$APT" = yes ]; then
  step "Debian packages: $APT_WHY"
  apt-get update
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $APT_PACKAGES
fi

if [ "$BUILD" = yes ]; then
  step "npm packages and the build"
  (cd "$SOURCE" && npm ci --no-audit --no-fund && npm run build)
fi
[ -f "$SOURCE/scripts/dist/package/index.js" ] || { echo "the checkout is not built: npm run build" >&2; exit 1; }

TARGET="$ROOT$PREFIX"
# The gateway's releases live side by side under PREFIX/releases; the links current (what runs) and
# committed (what passed its commit check) point at one, and updates from the bridge add the next
# ones (docs/updates.md). The bridge is one tree under PREFIX.
if [ "$SERVICE" = gateway ]; then
  VERSION=$("$NODE" -p 'require(process.argv[1]).version' "$SOURCE/gateway/package.json")
  HOME_DIR="$TARGET/releases/$VERSION"
  ENTRY_PREFIX="$PREFIX/current"
else
  HOME_DIR="$TARGET"
  ENTRY_PREFIX="$PREFIX"
fi
step "$SERVICE into $HOME_DIR"
if [ "$MODULES" = copy ]; then
  "$NODE" "$SOURCE/scripts/dist/package/index.js" stage "$SERVICE" "$HOME_DIR"
else
  "$NODE" "$SOURCE/scripts/dist/package/index.js" stage "$SERVICE" "$HOME_DIR" --no-modules
  step "production npm packages (native modules build here: a minute or more on a Pi 4)"
  (cd "$HOME_DIR" && npm install --omit=dev --no-audit --no-fund)
fi
if [ "$SERVICE" = gateway ]; then
  # A link is switched by renaming a new one over it, never rewritten in place.
  for link in current committed; do
    ln -sfn "releases/$VERSION" "$TARGET/.$link.new" && mv -Tf "$TARGET/.$link.new" "$TARGET/$link"
  done
fi
if [ "$SERVICE" = gateway ] && ! (cd "$HOME_DIR" && "$NODE" -e 'require("node-libgpiod")' 2>/dev/null); then
  # An optional package: npm skips it when libgpiod 1.x's headers are missing (or the system has libgpiod 2).
  echo "note: node-libgpiod is not built, so the gpiod IO plugin cannot load; install libgpiod-dev (libgpiod 1.x) and run: cd $PREFIX/current && npm install --omit=dev (on libgpiod 2, Debian 13 or Raspberry Pi OS trixie, it does not build: use a Firmata board, io.plugin firmata)" >&2
fi
mkdir -p "$ROOT/usr/local/bin"
ln -sf "$ENTRY_PREFIX/$COMMAND_ENTRY" "$ROOT/usr/local/bin/$COMMAND"

step "service user, configuration and data directories"
if [ -n "$ROOT" ]; then
  sh "$SOURCE/deploy/prepare-host.sh" "$SERVICE" --root "$ROOT"
elif [ "$SERVICE" = bridge ]; then
  sh "$SOURCE/deploy/prepare-host.sh" bridge --bridge-cli "/usr/local/bin/$COMMAND" -- "$@"
else
  sh "$SOURCE/deploy/prepare-host.sh" gateway
  # The service installs the releases it is offered and moves its links: the release root is its own.
  chown -R educard:educard "$TARGET"
fi

if [ "$SERVICE" = gateway ]; then
  step "udev rule: the GPIO chips and PWM channels for the group gpio"
  mkdir -p "$ROOT/etc/udev/rules.d"
  cp "$SOURCE/deploy/60-educard-gpio.rules" "$ROOT/etc/udev/rules.d/60-educard-gpio.rules"
  if [ -z "$ROOT" ] && command -v udevadm >/dev/null && [ -d /run/udev ]; then
    udevadm control --reload && udevadm trigger --subsystem-match=gpio --subsystem-match=pwm || true
  fi
  step "hardware watchdog: systemd feeds it (RuntimeWatchdogSec=14s)"
  mkdir -p "$ROOT/etc/systemd/system.conf.d"
  cp "$SOURCE/deploy/educard-watchdog.conf" "$ROOT/etc/systemd/system.conf.d/educard-watchdog.conf"
fi

# The gateway's rollback unit puts the committed release back when a release cannot even start.
UNITS=$UNIT
[ "$SERVICE" = gateway ] && UNITS="$UNIT educard-gateway-rollback.service"
step "systemd units $UNITS"
mkdir -p "$ROOT/etc/systemd/system"
for unit in $UNITS; do
  sed -e "s#@NODE@#$NODE#g" -e "s#@PREFIX@#$PREFIX#g" "$SOURCE/deploy/$unit" > "$ROOT/etc/systemd/system/$unit"
done
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
  # The gateway's watchdog is a system.conf setting: it takes effect when systemd re-executes itself
  # (every unit keeps running).
  if [ "$SERVICE" = gateway ]; then systemctl daemon-reexec; else systemctl daemon-reload; fi
  systemctl enable "$UNIT"
  if [ "$SERVICE" = gateway ]; then
    systemctl enable --now pcscd.socket 2>/dev/null || true
  elif [ -f /etc/educard/bridge.json ]; then
    systemctl restart "$UNIT"
  fi
fi

echo
echo 'installed. Next:'
if [ "$SERVICE" = gateway ]; then
  cat <<'NEXT'
  sudo educard init                                   # identity, school, readers, gate IO, root keys
  sudo educard enroll --token TOKEN --bridge URL      # a token from: educard-bridge tokens create
  sudo systemctl start educard-gateway && educard doctor
Technicians who run educard without sudo: sudo usermod -aG educard USER
NEXT
elif [ -n "$ROOT" ]; then
  cat <<NEXT
  on the machine itself: sudo sh $PREFIX/deploy/prepare-host.sh bridge --bridge-cli /usr/local/bin/educard-bridge -- --mqtt-host 0.0.0.0
  then: sudo systemctl enable --now educard-bridge
NEXT
else
  cat <<'NEXT'
  move the root key offline: /root/educard-bridge-root-key.json (a USB key in a safe)
  systemctl status educard-bridge; journalctl -u educard-bridge -f
  sudo educard-bridge tokens create --school SCHOOL --count 10    # one per gateway: docs/install-bridge.md
NEXT
fi
