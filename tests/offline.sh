#!/usr/bin/env bash
# Run a command with the network cut: a new network namespace in which only loopback is up (Linux).
#   tests/offline.sh .venv/bin/python -m pytest ...
# Inside, COURSE_NETWORK_CUT=1 tells the tests that the cut is in force (tests/test_offline.py checks it).
# Where namespaces are not allowed (macOS, unprivileged containers) the command runs with the network, saying so;
# with COURSE_REQUIRE_OFFLINE=1 (CI) that is an error instead.
set -euo pipefail
if command -v unshare >/dev/null && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
  exec unshare -n env COURSE_NETWORK_CUT=1 sh -c 'ip link set lo up && exec "$@"' sh "$@"
fi
if [ "${COURSE_REQUIRE_OFFLINE:-0}" = 1 ]; then
  echo "tests/offline.sh: cannot cut the network here (needs unshare -n and ip), and COURSE_REQUIRE_OFFLINE=1" >&2
  exit 2
fi
echo "tests/offline.sh: cannot cut the network here (needs Linux unshare -n and ip); running with the network" >&2
exec "$@"
