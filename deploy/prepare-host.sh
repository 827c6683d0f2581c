#!/bin/sh
# Makes a host ready for an educard service: its system user, its configuration and data directories
# with their owners and modes and, for the bridge, its configuration through `educard-bridge init`
# when there is none yet (an existing one is never touched). The install scripts and the Debian
# packages' postinst both run it, so a host is prepared the same way however it was installed.
#   deploy/prepare-host.sh gateway [--root DIR]
#   deploy/prepare-host.sh bridge [--root DIR] [--bridge-cli PATH] [--root-key-out FILE] [-- INIT-FLAGS]
set -eu

usage() {
  cat <<'USAGE'
usage: deploy/prepare-host.sh gateway|bridge [--root DIR] [--bridge-cli PATH] [--root-key-out FILE] [-- INIT-FLAGS...]

  gateway            user educard (in gpio, dialout, i2c, spi where they exist), /etc/educard
                     (root:educard 2751), /var/lib/educard (educard 0750)
  bridge             user educard-bridge, /etc/educard, /var/lib/educard-bridge (educard-bridge 0750);
                     without /etc/educard/bridge.json: educard-bridge init, then the config made
                     readable by the service (root:educard-bridge 0640) and its data directory its own
  --root DIR         only make the directories under DIR (an image build): no user, no owners, no init;
                     a bridge's keys and tokens are made on the machine that runs it, never in an image
  --bridge-cli PATH  the educard-bridge command (default: educard-bridge on the PATH)
  --root-key-out FILE  where init writes the root key (default /root/educard-bridge-root-key.json):
                     move it offline before the bridge goes live
  -- INIT-FLAGS      more flags for educard-bridge init (--mqtt-host 0.0.0.0, --http-host, ...)

example: sudo deploy/prepare-host.sh bridge -- --mqtt-host 0.0.0.0
USAGE
}

ROLE=${1:-}
case "$ROLE" in
  gateway | bridge) shift ;;
  -h | --help) usage; exit 0 ;;
  *) echo "which service: gateway or bridge" >&2; usage >&2; exit 2 ;;
esac
ROOT=
BRIDGE_CLI=educard-bridge
ROOT_KEY=/root/educard-bridge-root-key.json
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --bridge-cli) BRIDGE_CLI=${2:?--bridge-cli needs a path}; shift 2 ;;
    --root-key-out) ROOT_KEY=${2:?--root-key-out needs a file}; shift 2 ;;
    --) shift; break ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

system_user() { # NAME HOME
  id "$1" >/dev/null 2>&1 ||
    useradd --system --user-group --home-dir "$2" --no-create-home --shell /usr/sbin/nologin "$1"
}

if [ "$ROLE" = gateway ]; then
  mkdir -p "$ROOT/etc/educard" "$ROOT/var/lib/educard"
  # setgid: files written here (the config) stay in the service group. Others may pass through (a
  # bridge on the same host reaches its own bridge.json) but not list or read: gateway.json is 0640.
  chmod 2751 "$ROOT/etc/educard"
  chmod 0750 "$ROOT/var/lib/educard"
  [ -n "$ROOT" ] && exit 0
  system_user educard /var/lib/educard
  # GPIO through the group gpio (made here where the system has none; deploy/60-educard-gpio.rules
  # gives it the chips), serial (Firmata) and I2C/SPI access where the system has those groups.
  getent group gpio >/dev/null || groupadd --system gpio
  for group in gpio dialout i2c spi; do
    if getent group "$group" >/dev/null; then usermod -aG "$group" educard; fi
  done
  chown root:educard /etc/educard
  chown educard:educard /var/lib/educard
  exit 0
fi

CONFIG=/etc/educard/bridge.json
DATA=/var/lib/educard-bridge
# /etc/educard may be a gateway's already (root:educard 2751): then it is left as it is.
[ -d "$ROOT/etc/educard" ] || { mkdir -p "$ROOT/etc/educard" && chmod 0755 "$ROOT/etc/educard"; }
mkdir -p "$ROOT$DATA"
chmod 0750 "$ROOT$DATA"
[ -n "$ROOT" ] && exit 0
system_user educard-bridge "$DATA"
if [ -e "$CONFIG" ]; then
  echo "$CONFIG is there already: left as it is"
elif [ -e "$ROOT_KEY" ]; then
  echo "a root key is at $ROOT_KEY but there is no $CONFIG: not setting up a second bridge over it." >&2
  echo "Move the key away (or restore the config), then: sudo educard-bridge init --root-key-out FILE" >&2
else
  if "$BRIDGE_CLI" init --config "$CONFIG" --data-dir "$DATA" --root-key-out "$ROOT_KEY" "$@"; then
    chown root:educard-bridge "$CONFIG"
    chmod 0640 "$CONFIG"
  else
    echo "educard-bridge init did not run (above: why); set the bridge up by hand: docs/install-bridge.md" >&2
  fi
fi
chown -R educard-bridge:educard-bridge "$DATA"
