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
    python3 - "$log" <<'PY'
import re
import sys

ansi = re.compile(r"\x1b\[[0-9;]*m")
lines = [ansi.sub("", line.rstrip("\n")) for line in open(sys.argv[1], errors="replace")]
task = play = ""
shown = 0
for number, line in enumerate(lines):
    if line.startswith("PLAY ["):
        play = line
    elif line.startswith(("TASK [", "RUNNING HANDLER [")):
        task = line
    if re.match(r"(fatal|failed): \[", line) or re.search(r"^(FAILED|ERROR) ", line) or " FAILED " in line:
        if shown >= 3:
            print("(more in the log)")
            break
        if line.startswith(("fatal", "failed")):
            print("line %d, %s / %s" % (number + 1, play[:120], task[:160]))
        for text in lines[number:number + 4]:
            print(text[:700])
        shown += 1
PY
fi
exit "$rc"
