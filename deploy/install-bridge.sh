#!/bin/sh
# Installs the educard bridge on Debian from a checkout (deploy/install.sh does the work; --help lists
# the options): the bridge under /opt/educard, the educard-bridge command, the service user, its
# configuration through educard-bridge init, and educard-bridge.service, started.
# docs/install-bridge.md goes from a blank server to the first gateway enrolled.
exec sh "$(dirname "$0")/install.sh" bridge "$@"
