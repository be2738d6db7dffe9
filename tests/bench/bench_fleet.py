# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of playbooks/site.yml on a fleet of simulated hosts (tools/fleet/fleet.sh:
a network namespace, an sshd and an overlay root per host, real SSH with pipelining and
ControlPersist, image mode). Run by ``make bench``; needs root and ``ip``, else it says
why it skips. docs/fleet.md.

For each fleet size (``KVMOPS_BENCH_FLEET_HOSTS``, default ``10,25,50``; same forks for
all) on fresh hosts, three runs, each from cold SSH connections:

1. ``ansible all -m ping``, three times (the median is the ratios' denominator);
2. the first converge of site.yml (everything to write);
3. the converged run (site.yml again, nothing to change).

Prints the wall seconds and the ratios to ping (goal: converged <= 10x ping); the remote
module executions per host of the converged run, counted by the hosts themselves (each
host's Python interpreter is a wrapper that logs every start: goal <= 12) and per role
and task by the kvmops_counts callback; the fact gatherings per host and play (goal: 1);
how many distinct boot configurations the hosts got (the plans differ by hardware); and
the cost per added host (least-squares slope over the sizes). Figures, not assertions: it
fails only when a run fails.

``KVMOPS_BENCH_FLEET_KEEP=1`` leaves the last fleet up. A fleet already up with the
first size and fresh hosts is used as it is.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLEET = os.path.join(ROOT, "tools", "fleet", "fleet.sh")
FLEET_DIR = os.environ.get("KVMOPS_FLEET_DIR", "/var/tmp/kvmops-fleet")
OUT = os.path.join(ROOT, "build", "bench-fleet")
COUNT_LOG = "var/log/kvmops-count-python.log"
GOAL_RATIO = 10
GOAL_REMOTE = 12
PING_RUNS = 3


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (network namespaces, mounts)"
    if not shutil.which("ip"):
        return "needs ip (iproute2)"
    if not shutil.which("ssh"):
        return "needs ssh (openssh-client)"
    if not os.path.exists(os.path.join(ROOT, ".venv", "bin", "ansible-playbook")):
        return "needs the venv (make venv)"
    return None


def sizes():
    text = os.environ.get("KVMOPS_BENCH_FLEET_HOSTS", "10,25,50")
    values = [int(part) for part in text.replace(" ", "").split(",") if part]
    if not values or min(values) < 1:
        raise SystemExit("KVMOPS_BENCH_FLEET_HOSTS: a comma-separated list of host counts, got %r" % text)
    return values


def environment(counts_file=None):
    env = dict(os.environ)
    env["PATH"] = "%s:%s" % (os.path.join(ROOT, ".venv", "bin"), env.get("PATH", ""))
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(ROOT, "build", "collections")
    env["ANSIBLE_CONFIG"] = os.path.join(FLEET_DIR, "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    if counts_file:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "kvmops.hypervisor.kvmops_counts"
        env["KVMOPS_COUNTS_FILE"] = counts_file
    return env


# ----------------------------------------------------------------------------- fleet

def fleet(*args):
    result = subprocess.run([FLEET] + list(args), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit("fleet.sh %s failed (exit %d)" % (" ".join(args), result.returncode))
    return result


def running_hosts():
    try:
        with open(os.path.join(FLEET_DIR, "state")) as handle:
            for line in handle:
                if line.startswith("hosts="):
                    return int(line.split("=", 1)[1])
    except (IOError, OSError):
        pass
    return 0


def host_root(number):
    return os.path.join(FLEET_DIR, "hosts", "kvmfleet%d" % number, "root")


def fresh(count):
    """Have the first site.yml run on none of the hosts (no drop-in of ours yet)?"""
    return all(not os.path.exists(os.path.join(host_root(n), "etc", "sysctl.d", "90-kvmops-net.conf"))
               for n in range(1, count + 1))


def bring_up(count):
    if running_hosts() == count and fresh(count):
        return "used the fleet already up"
    if running_hosts():
        fleet("down")
    started = time.time()
    fleet("up", str(count))
    return "fleet up in %.0f s" % (time.time() - started)


def stop_masters():
    """Close the SSH control masters: each measured run opens its own connections."""
    directory = os.path.join(FLEET_DIR, "cp")
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        subprocess.run(["ssh", "-o", "ControlPath=" + os.path.join(directory, name), "-O", "exit", "fleet"],
                       capture_output=True, check=False)


def reset_counts(count):
    for number in range(1, count + 1):
        with open(os.path.join(host_root(number), COUNT_LOG), "w"):
            pass


def python_starts(count):
    """{host: Python processes started on it since reset_counts} from the hosts' logs."""
    found = {}
    for number in range(1, count + 1):
        with open(os.path.join(host_root(number), COUNT_LOG)) as handle:
            found["kvmfleet%d" % number] = sum(1 for line in handle if line.strip())
    return found


def boot_configurations(count):
    """How many distinct sets of kernel arguments (GRUB drop-ins of ours) the hosts have."""
    digests = set()
    for number in range(1, count + 1):
        directory = os.path.join(host_root(number), "etc", "default", "grub.d")
        digest = hashlib.sha256()
        for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
            if "kvmops" in name:
                with open(os.path.join(directory, name), "rb") as handle:
                    digest.update(name.encode() + b"\0" + handle.read())
        digests.add(digest.hexdigest())
    return len(digests)


# ----------------------------------------------------------------------------- runs

def timed(label, argv, count, counts_file=None):
    """Run one measured command from cold connections; (seconds, python starts per host)."""
    stop_masters()
    reset_counts(count)
    log = os.path.join(OUT, "%d-%s.log" % (count, label))
    started = time.time()
    with open(log, "w") as handle:
        result = subprocess.run(argv, cwd=ROOT, env=environment(counts_file), stdout=handle,
                                stderr=subprocess.STDOUT, check=False)
    seconds = time.time() - started
    if result.returncode != 0:
        with open(log) as handle:
            sys.stderr.write("".join(handle.readlines()[-40:]))
        raise SystemExit("%s on %d hosts failed (exit %d); full output: %s" % (label, count, result.returncode, log))
    return seconds, python_starts(count)


def measure(count):
    note = bring_up(count)
    forks = "?"
    with open(os.path.join(FLEET_DIR, "ansible.cfg")) as handle:
        for line in handle:
            if line.replace(" ", "").startswith("forks="):
                forks = line.split("=", 1)[1].strip()
    site = ["ansible-playbook", os.path.join(ROOT, "playbooks", "site.yml"), "-e", "kvmops_serial=100%"]
    # ping three times, each from cold connections: one ping is a few seconds, so one
    # slow or quick run moves the ratio by a fifth; the median is the denominator
    pings = []
    for _run in range(PING_RUNS):
        seconds, ping_starts = timed("ping", ["ansible", "all", "-m", "ansible.builtin.ping"], count)
        pings.append(seconds)
    ping_s = statistics.median(pings)
    first_json = os.path.join(OUT, "%d-first.json" % count)
    first_s, first_starts = timed("first", site, count, first_json)
    converged_json = os.path.join(OUT, "%d-converged.json" % count)
    converged_s, converged_starts = timed("converged", site, count, converged_json)
    with open(converged_json) as handle:
        converged_counts = json.load(handle)
    with open(first_json) as handle:
        first_counts = json.load(handle)
    return {
        "hosts": count, "forks": forks, "note": note, "ping": ping_s, "pings": pings, "first": first_s, "converged": converged_s,
        "ping_starts": ping_starts, "first_starts": first_starts, "converged_starts": converged_starts,
        "first_counts": first_counts, "converged_counts": converged_counts,
        "boot_configurations": boot_configurations(count),
    }


# ----------------------------------------------------------------------------- report

def spread(values):
    values = sorted(values)
    if values[0] == values[-1]:
        return "%d" % values[0]
    return "%d-%d (median %g)" % (values[0], values[-1], statistics.median(values))


def facts_per_play(counts):
    """{play: [gatherings per host]} over every host of the run (0 where none)."""
    plays = counts["plays"]
    return {play: [host["facts"].get(play, 0) for host in counts["hosts"].values()] for play in plays}


def slope(points):
    """Least-squares slope of (x, y) points; None with fewer than two distinct x."""
    xs = [x for x, _y in points]
    if len(set(xs)) < 2:
        return None
    mean_x, mean_y = statistics.mean(xs), statistics.mean(y for _x, y in points)
    return (sum((x - mean_x) * (y - mean_y) for x, y in points)
            / sum((x - mean_x) ** 2 for x in xs))


def report(results, forks, load_before):
    print("fleet: forks %s, %d CPUs, load average before %s, after %s"
          % ("/".join(forks), os.cpu_count(), " ".join("%.2f" % v for v in load_before),
             " ".join("%.2f" % v for v in os.getloadavg())))
    print("")
    print("%5s | %7s | %8s | %11s | %10s | %14s | %s" % (
        "hosts", "ping s", "first s", "converged s", "first/ping", "converged/ping", "notes"))
    for row in results:
        print("%5d | %7.1f | %8.1f | %11.1f | %9.1fx | %13.1fx | %s; %d distinct boot configurations" % (
            row["hosts"], row["ping"], row["first"], row["converged"], row["first"] / row["ping"],
            row["converged"] / row["ping"], row["note"], row["boot_configurations"]))
    for row in results:
        print("  %d hosts: ping %s s (median of %d, each from cold connections)"
              % (row["hosts"], " / ".join("%.1f" % value for value in row["pings"]), len(row["pings"])))
    worst = max(row["converged"] / row["ping"] for row in results)
    print("goal converged/ping <= %dx: %s (worst %.1fx)"
          % (GOAL_RATIO, "met" if worst <= GOAL_RATIO else "NOT met", worst))
    print("")
    for name in ("ping", "first", "converged"):
        value = slope([(row["hosts"], row[name]) for row in results])
        if value is not None:
            print("slope %-9s %.2f s per added host (%.0f ms)" % (name + ":", value, value * 1000))
    print("")
    last = results[-1]
    counts = last["converged_counts"]
    starts = last["converged_starts"]
    print("remote module executions per host, %d hosts (host's own count: Python starts):" % last["hosts"])
    print("  ping %s, first converge %s, converged %s (goal <= %d: %s)" % (
        spread(last["ping_starts"].values()), spread(last["first_starts"].values()), spread(starts.values()),
        GOAL_REMOTE, "met" if max(starts.values()) <= GOAL_REMOTE else "NOT met"))
    callback = {host: data["remote"] for host, data in counts["hosts"].items()}
    print("  converged, by the kvmops_counts callback: %s (task results that ran on the host)"
          % spread(callback.values()))
    hosts = len(counts["hosts"]) or 1
    print("  converged per role (callback, per host):")
    for role, total in sorted(counts["roles"].items(), key=lambda item: (-item[1], item[0])):
        print("    %-36s %5.1f" % (role, total / hosts))
    if max(starts.values()) > GOAL_REMOTE:
        tasks = {}
        for data in counts["hosts"].values():
            for task, number in data["tasks"].items():
                tasks[task] = tasks.get(task, 0) + number
        print("  converged per task (callback, per host), what costs the executions above %d:" % GOAL_REMOTE)
        for task, total in sorted(tasks.items(), key=lambda item: (item[0].split(":")[0], -item[1])):
            print("    %4.1f  %s" % (total / hosts, task))
    print("")
    print("fact gatherings per host and play (goal: 1):")
    for label, data in (("first", last["first_counts"]), ("converged", counts)):
        for play, values in facts_per_play(data).items():
            print("  %-9s %-50s %s" % (label, play, spread(values) if values else "-"))
    print("")
    print("runs' output and the callback's JSON: %s" % OUT)


def main():
    reason = skip_reason()
    if reason:
        print("bench_fleet: skipped, %s" % reason)
        return 0
    if not os.path.exists(os.path.join(ROOT, "build", "collections", "ansible_collections", "kvmops", "hypervisor")):
        print("bench_fleet: skipped, the collection link is missing (make link)")
        return 0
    if not os.path.isdir(OUT):
        os.makedirs(OUT)
    load_before = os.getloadavg()
    results = []
    try:
        for count in sizes():
            started = time.time()
            results.append(measure(count))
            print("bench_fleet: %d hosts measured in %.0f s" % (count, time.time() - started), file=sys.stderr)
    finally:
        if running_hosts() and os.environ.get("KVMOPS_BENCH_FLEET_KEEP") != "1":
            fleet("down")
    report(results, sorted(set(row["forks"] for row in results)), load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
