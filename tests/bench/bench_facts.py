"""Speed of kvm_host_facts (run by ``make bench``; prints figures, asserts nothing).

1. In-process gather of synthetic trees from 64 to 1024 CPUs (16 NUMA nodes at 1024):
   goal <= 50 ms at 1024 CPUs, and roughly linear growth.
2. Through Ansible against localhost (connection local), in the same playbook run:
   kvm_host_facts (all subsets) and ansible.builtin.setup with gather_subset hardware,
   each as its cost above a no-op task (ansible.builtin.command: true):
   goal <= 0.5x setup's extra cost.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(REPO, "build", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "kvmops", "hypervisor")
sys.path.insert(0, os.path.join(REPO, "tests", "unit"))
if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(REPO, LINK)
sys.path.insert(0, COLLECTIONS)

from sysfs_builder import Host, Tree  # noqa: E402
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import (  # noqa: E402
    SUBSET_NAMES,
    gather,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader  # noqa: E402

GOAL_1024_MS = 50.0
GOAL_RATIO = 0.5
SIZES = [  # (CPUs, shape, nodes)
    (64, "2x16x2", 2), (128, "2x32x2", 4), (256, "4x32x2", 8), (512, "4x64x2", 16),
    (1024, "4x128x2", 16)]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
ANSIBLE_REPEAT = int(os.environ.get("BENCH_ANSIBLE_REPEAT", "7"))


class CountingReader(Reader):
    """A Reader that counts the system calls it makes (a figure that load cannot skew)."""

    def __init__(self, root):
        Reader.__init__(self, root)
        self.calls = 0

    def data(self, *args, **kwargs):
        self.calls += 1
        return Reader.data(self, *args, **kwargs)

    def listdir(self, relpath):
        self.calls += 1
        return Reader.listdir(self, relpath)

    def isdir(self, relpath):
        self.calls += 1
        return Reader.isdir(self, relpath)

    def exists(self, relpath):
        self.calls += 1
        return Reader.exists(self, relpath)


def timed(func, rounds=ROUNDS):
    func()  # warm the page cache and the imports
    samples = []
    for _round in range(rounds):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples), min(samples)


def in_process():
    print("in-process gather of synthetic trees (median / best of %d, ms)" % ROUNDS)
    header = ("CPUs", "nodes", "cpu+numa", "all subsets", "reads (all)", "tree files")
    print("%6s %6s %14s %14s %12s %10s" % header, flush=True)
    results = {}
    topology = {}
    reads = {}
    with tempfile.TemporaryDirectory(prefix="bench-facts-") as workdir:
        for cpus, shape, nodes in SIZES:
            root = os.path.join(workdir, str(cpus))
            tree = Tree(root)
            Host(shape, nodes=nodes, hugepages={"1048576": {0: 4}}).build(tree)
            for index in range(4):
                tree.nvme("nvme%d" % index, address="0000:%02x:00.0" % (index + 1), queues=32)
            tree.sriov_pf("0000:3b:00.0", numvfs=8)
            tree.files({
                "/proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet",
                "/proc/sys/kernel/osrelease": "6.1.0-13-amd64",
                "/sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never",
                "/proc/sys/vm/swappiness": "60",
            })
            for pid in range(100, 400):  # a process table to scan
                tree.write("/proc/%d/cmdline" % pid, b"/usr/sbin/daemon\0--flag\0")
            files = sum(len(names) for _dir, _dirs, names in os.walk(root))
            topo = timed(lambda: gather(Reader(root), {"cpu", "numa"}))
            full = timed(lambda: gather(Reader(root), set(SUBSET_NAMES)))
            counting = CountingReader(root)
            facts = gather(counting, set(SUBSET_NAMES))
            assert facts["cpu"]["threads"] == cpus and not facts["warnings"], facts["warnings"]
            results[cpus] = full
            topology[cpus] = topo
            reads[cpus] = counting.calls
            print("%6d %6d %7.1f / %5.1f %7.1f / %5.1f %12d %10d"
                  % (cpus, nodes, topo[0], topo[1], full[0], full[1], counting.calls, files),
                  flush=True)
    print("growth 64 -> 1024 CPUs (16x the CPUs): cpu+numa %.1fx the time, all subsets %.1fx "
          "the time (best runs; the process scan is a fixed cost), %.1fx the reads"
          % (topology[1024][1] / topology[64][1], results[1024][1] / results[64][1],
             reads[1024] / float(reads[64])))
    median, best = results[1024]
    print("1024 CPUs, 16 nodes, all subsets: median %.1f ms, best %.1f ms (goal <= %.0f ms): %s"
          % (median, best, GOAL_1024_MS, "met" if median <= GOAL_1024_MS else
             ("met at best, median slowed by load %s" % (os.getloadavg(),)
              if best <= GOAL_1024_MS else "MISSED")))


PLAYBOOK_HEAD = """- name: bench kvm_host_facts
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
"""
TASKS = {
    "noop": "    - name: noop {n}\n      ansible.builtin.command: 'true'\n      changed_when: false\n",
    "kvm_host_facts": "    - name: kvm_host_facts {n}\n      kvmops.hypervisor.kvm_host_facts:\n",
    "setup_hardware": ("    - name: setup_hardware {n}\n      ansible.builtin.setup:\n"
                       "        gather_subset: [hardware]\n"),
}


def _seconds(stamp):
    return datetime.strptime(stamp.replace("Z", ""), "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def through_ansible():
    playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(playbook_bin):
        print("ansible-playbook not found next to %s: skipped" % sys.executable)
        return
    body = PLAYBOOK_HEAD
    for number in range(ANSIBLE_REPEAT):  # interleaved, so that load changes hit all three
        for name in ("noop", "kvm_host_facts", "setup_hardware"):
            body += TASKS[name].format(n=number)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    with tempfile.TemporaryDirectory(prefix="bench-facts-play-") as workdir:
        path = os.path.join(workdir, "bench.yml")
        with open(path, "w") as handle:
            handle.write(body)
        proc = subprocess.run([playbook_bin, "-i", "localhost,", path], env=env,
                              capture_output=True, text=True, check=False, cwd=workdir)
    if proc.returncode != 0:
        print("playbook failed (rc %d):\n%s\n%s"
              % (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
        return
    report = json.loads(proc.stdout)
    durations = {"noop": [], "kvm_host_facts": [], "setup_hardware": []}
    for task in report["plays"][0]["tasks"]:
        name = task["task"]["name"].rsplit(" ", 1)[0]
        span = task["task"]["duration"]
        durations[name].append((_seconds(span["end"]) - _seconds(span["start"])) * 1000.0)
    median = dict((name, statistics.median(values)) for name, values in durations.items())
    # each round ran the three tasks back to back: pair them, so that load changes between
    # rounds cancel out, and take the median of the per-round extra costs
    facts_extra = statistics.median(
        facts - noop for facts, noop in zip(durations["kvm_host_facts"], durations["noop"]))
    setup_extra = statistics.median(
        setup - noop for setup, noop in zip(durations["setup_hardware"], durations["noop"]))
    print("through ansible-playbook, localhost, connection local (%d interleaved rounds, ms)"
          % ANSIBLE_REPEAT)
    for name in ("noop", "kvm_host_facts", "setup_hardware"):
        print("  %-16s median %6.0f   samples %s" % (
            name, median[name], " ".join("%.0f" % value for value in durations[name])))
    print("  extra cost above the no-op (median of per-round differences): "
          "kvm_host_facts %.0f ms, setup hardware %.0f ms" % (facts_extra, setup_extra))
    best = dict((name, min(values)) for name, values in durations.items())
    print("  extra cost from the best runs: kvm_host_facts %.0f ms, setup hardware %.0f ms"
          % (best["kvm_host_facts"] - best["noop"], best["setup_hardware"] - best["noop"]))
    if setup_extra > 0:
        ratio = facts_extra / setup_extra
        print("  ratio %.2fx of setup's extra cost (goal <= %.1fx): %s"
              % (ratio, GOAL_RATIO, "met" if ratio <= GOAL_RATIO else "MISSED"))
    print("  load average during the run: %.1f %.1f %.1f" % os.getloadavg())


def main():
    in_process()
    if os.environ.get("BENCH_SKIP_ANSIBLE") != "1":
        through_ansible()
    return 0


if __name__ == "__main__":
    sys.exit(main())
