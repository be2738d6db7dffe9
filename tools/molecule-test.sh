#!/usr/bin/env bash
# molecule test -s SCENARIO, its whole output also in build/molecule-SCENARIO.log; when it
# fails, what failed (each failed task with its TASK line and message, and the failed tests
# of the verifier) is printed again at the very end, where a CI log that keeps only its
# tail (about 20 lines) still shows it (stop 29's CI failed in the lab's converge and its tail held only
# molecule's summary).
set -uo pipefail
scenario=$1
log="build/molecule-$scenario${KVMOPS_LAB_SUITE:+-$KVMOPS_LAB_SUITE}.log"
mkdir -p build
molecule test -s "$scenario" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
    echo "== molecule test -s $scenario failed (rc $rc); what failed, from $log:"
    python3 "$(dirname "$0")/molecule_failures.py" "$log"
fi
exit "$rc"
