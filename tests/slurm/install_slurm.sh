#!/usr/bin/env bash
# Install what tests/slurm/start_slurm.sh needs, from Debian's packages, without starting any
# system service (the test starts its own daemons in a temporary directory). Needs root.
#   bash tests/slurm/install_slurm.sh
set -euo pipefail
packages=(slurm-wlm slurmdbd munge mariadb-server)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install_slurm: needs root and apt-get (install by hand: apt-get install ${packages[*]})" >&2
  exit 2
fi
# Debian's maintainer scripts start munge and MariaDB unless policy-rc.d says no; say no only
# for this install, and only if the machine has no policy of its own.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
