#!/usr/bin/env bash
# pair.sh BUILD - the broker-pair soak behind `make soak`: the failover
# test of tests/integration/pair_failover.sh with many more failovers (at
# least 100 SIGKILLs of the active broker, and the pause past the lease)
# and more messages. The same pass rule: accepted lost 0, unexpected 0,
# duplicates 0, audit verify and every pair of tree heads consistent, the
# paused broker committed nothing after the takeover.
#
# Environment: PAIR_KILLS (default 100), PAIR_MESSAGES (default 20000),
# PAIR_DRAIN (default 600); the others as pair_failover.sh says.
set -euo pipefail
BUILD=${1:-build}
export CERTBUS_BIN=${CERTBUS_BIN:-$(cd "$BUILD" && pwd)}
export PAIR_KILLS=${PAIR_KILLS:-100}
export PAIR_MESSAGES=${PAIR_MESSAGES:-20000}
export PAIR_DRAIN=${PAIR_DRAIN:-600}
[ "$PAIR_KILLS" -ge 100 ] || echo "note: PAIR_KILLS=$PAIR_KILLS, fewer than the soak's 100 failovers"
exec bash "$(dirname "${BASH_SOURCE[0]}")/../integration/pair_failover.sh"
