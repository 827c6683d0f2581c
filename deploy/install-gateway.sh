#!/bin/sh
# Installs the educard gateway on Raspberry Pi OS or Debian: Debian packages, the built gateway under
# PREFIX, the `educard` command, the service user (with GPIO access), the systemd unit and the
# hardware watchdog. Run it from a checkout:
#   sudo deploy/install-gateway.sh
# Then: sudo educard init; sudo educard enroll --token T --bridge URL; sudo systemctl start educard-gateway
# (docs/install.md walks through it.)
set -eu

usage() {
  cat <<'USAGE'
usage: deploy/install-gateway.sh [--prefix DIR] [--root DIR] [--no-apt] [--no-build] [--copy-modules]

  --prefix DIR   where the gateway goes (default /opt/educard)
  --root DIR     stage everything under DIR instead of / (an image build, a test): no packages,
                 no user, no systemctl
  --no-apt       do not install Debian packages (they are there already)
  --no-build     use the gateway already built in this checkout (npm ci && npm run build)
  --copy-modules copy this checkout's node_modules (with development tools) instead of installing
                 the gateway's production packages from the npm registry (offline installs)

example: sudo deploy/install-gateway.sh
USAGE
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
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

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
  step "Debian packages: pcscd libpcsclite-dev (card readers), gpiod libgpiod-dev (gate IO), build tools for the native modules"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    pcscd libpcsclite-dev gpiod libgpiod-dev build-essential python3 ca-certificates
fi

if [ "$BUILD" = yes ]; then
  step "npm packages and the gateway build"
  (cd "$SOURCE" && npm ci --no-audit --no-fund && npm run build)
fi
[ -f "$SOURCE/gateway/dist/main.js" ] || { echo "gateway/dist is missing: build first (npm run build)" >&2; exit 1; }

TARGET="$ROOT$PREFIX"
step "gateway into $TARGET"
rm -rf "$TARGET/gateway/dist" "$TARGET/terminal-sdk/dist"
mkdir -p "$TARGET/gateway" "$TARGET/terminal-sdk"
cp -a "$SOURCE/package-lock.json" "$SOURCE/docs" "$SOURCE/deploy" "$TARGET/"
cp -a "$SOURCE/gateway/package.json" "$SOURCE/gateway/dist" "$TARGET/gateway/"
cp -a "$SOURCE/terminal-sdk/package.json" "$SOURCE/terminal-sdk/dist" "$TARGET/terminal-sdk/"
# The device gets the gateway's workspaces only, at the versions the lockfile pins.
"$NODE" -e '
  const [from, to] = process.argv.slice(1);
  const root = JSON.parse(require("fs").readFileSync(from, "utf8"));
  const device = { name: root.name, version: root.version, private: true, type: root.type,
    engines: root.engines, workspaces: ["terminal-sdk", "gateway"] };
  require("fs").writeFileSync(to, JSON.stringify(device, null, 2) + "\n");
' "$SOURCE/package.json" "$TARGET/package.json"
if [ "$MODULES" = copy ]; then
  rm -rf "$TARGET/node_modules"
  cp -a "$SOURCE/node_modules" "$TARGET/"
else
  step "production npm packages (native modules build here: about a minute on a Pi 4)"
  (cd "$TARGET" && npm install --omit=dev --no-audit --no-fund)
fi
if ! (cd "$TARGET" && "$NODE" -e 'require("node-libgpiod")' 2>/dev/null); then
  # An optional package: npm skips it when libgpiod 1.x's headers are missing (or the system has libgpiod 2).
  echo "note: node-libgpiod is not built, so the gpiod IO plugin cannot load; install libgpiod-dev (libgpiod 1.x) and run: cd $PREFIX && npm install --omit=dev" >&2
fi
chmod 755 "$TARGET/gateway/dist/cli/main.js" "$TARGET/gateway/dist/main.js"
mkdir -p "$ROOT/usr/local/bin"
ln -sf "$PREFIX/gateway/dist/cli/main.js" "$ROOT/usr/local/bin/educard"

if [ -z "$ROOT" ]; then
  step "service user educard"
  id educard >/dev/null 2>&1 || useradd --system --home-dir /var/lib/educard --no-create-home --shell /usr/sbin/nologin educard
  # GPIO through the group gpio (made here where the image has none, with the udev rule below),
  # serial (Firmata) and I2C/SPI access where the system has those groups.
  getent group gpio >/dev/null || groupadd --system gpio
  for group in gpio dialout i2c spi; do
    getent group "$group" >/dev/null && usermod -aG "$group" educard
  done
  OWNER=educard
else
  OWNER=
fi

step "configuration and data directories"
mkdir -p "$ROOT/etc/educard" "$ROOT/var/lib/educard"
chmod 2750 "$ROOT/etc/educard"   # setgid: files written here (config) stay in the service group
chmod 0750 "$ROOT/var/lib/educard"
if [ -n "$OWNER" ]; then
  chown root:educard "$ROOT/etc/educard"
  chown educard:educard "$ROOT/var/lib/educard"
fi

step "udev rule: the GPIO chips and PWM channels for the group gpio"
mkdir -p "$ROOT/etc/udev/rules.d"
cp "$SOURCE/deploy/60-educard-gpio.rules" "$ROOT/etc/udev/rules.d/60-educard-gpio.rules"
if [ -z "$ROOT" ] && command -v udevadm >/dev/null && [ -d /run/udev ]; then
  udevadm control --reload && udevadm trigger --subsystem-match=gpio --subsystem-match=pwm || true
fi

step "hardware watchdog: systemd feeds it (RuntimeWatchdogSec=14s)"
mkdir -p "$ROOT/etc/systemd/system.conf.d"
cp "$SOURCE/deploy/educard-watchdog.conf" "$ROOT/etc/systemd/system.conf.d/educard-watchdog.conf"

step "systemd unit educard-gateway.service"
mkdir -p "$ROOT/etc/systemd/system"
sed -e "s#@NODE@#$NODE#g" -e "s#@PREFIX@#$PREFIX#g" "$SOURCE/deploy/educard-gateway.service" \
  > "$ROOT/etc/systemd/system/educard-gateway.service"
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
  # system.conf settings take effect when systemd re-executes itself (it keeps every unit running).
  systemctl daemon-reexec
  systemctl enable educard-gateway.service
  systemctl enable --now pcscd.socket 2>/dev/null || true
fi

cat <<NEXT

installed. Next:
  sudo educard init                                   # identity, school, readers, gate IO, root keys
  sudo educard enroll --token TOKEN --bridge URL      # a token from: educard-bridge tokens create
  sudo systemctl start educard-gateway && educard doctor
Technicians who run educard without sudo: sudo usermod -aG educard USER
NEXT
