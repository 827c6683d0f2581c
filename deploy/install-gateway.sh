#!/bin/sh
# Installs the educard gateway on Raspberry Pi OS or Debian from a checkout (deploy/install.sh does the
# work; --help lists the options). Then: sudo educard init; sudo educard enroll --token T --bridge URL;
# sudo systemctl start educard-gateway (docs/install.md walks through it).
exec sh "$(dirname "$0")/install.sh" gateway "$@"
