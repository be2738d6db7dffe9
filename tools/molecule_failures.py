"""What failed in a molecule log, in a few lines (tools/molecule-test.sh prints them last,
where a CI log that keeps only its tail still shows them).

Usage: molecule_failures.py LOG

Each failure: a failed task (``fatal:``/``failed:`` with the play and task it ran in) and
the non-empty lines after it (not one Ansible ignored), a pytest ``FAILED`` line, or molecule's own
``ERROR`` line; at most
``LIMIT`` of them, ANSI colours removed, long lines cut.
"""

import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TASK_FAILED = re.compile(r"(fatal|failed): \[")
OTHER_FAILED = re.compile(r"^(FAILED|ERROR) | FAILED ")
LIMIT = 3
CONTEXT = 4
WIDTH = 700


def failures(lines, limit=LIMIT):
    """The summary lines for ``lines`` (a log's lines, newlines stripped or not)."""
    lines = [ANSI.sub("", line.rstrip("\n")) for line in lines]
    out = []
    play = task = ""
    shown = 0
    for number, line in enumerate(lines):
        if line.startswith("PLAY ["):
            play = line
        elif line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line
        failed_task = TASK_FAILED.match(line)
        if not failed_task and not OTHER_FAILED.search(line):
            continue
        if failed_task and "...ignoring" in lines[number + 1:number + 1 + CONTEXT]:
            continue  # ignore_errors: not why the run failed
        if shown >= limit:
            out.append("(more in the log)")
            break
        if failed_task:
            out.append("line %d, %s / %s" % (number + 1, play[:120], task[:160]))
            out.extend(text[:WIDTH] for text in lines[number:number + CONTEXT] if text.strip())
        else:
            out.append(line[:WIDTH])
        shown += 1
    return out


def main(argv):
    with open(argv[1], errors="replace") as handle:
        print("\n".join(failures(handle)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
