"""What the image scenario's tests share: the chroots, the files a converge wrote into them,
and the extra ansible-playbook runs (roles alone, reversed, check mode, refusals).

The instance (MOLECULE_EPHEMERAL_DIRECTORY/chroot) is converged by Molecule with
playbooks/site.yml. The other cases each get a fresh chroot of their own (tools/lab/lab.sh
chroot-new, under MOLECULE_EPHEMERAL_DIRECTORY/cases/; destroy.yml removes them) and run
through the community.general.chroot connection. They run once per session, two at a time
(the machine has 2 cores), before the first test that needs them.

A chroot is a local directory: what a run wrote is read from the controller, as the files
changed after a stamp taken when the chroot was unpacked (`find -newer`, on the chroot's own
filesystem only: not its /dev, /proc, /sys mounts).
"""

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

SCENARIO = Path(__file__).resolve().parent.parent
REPO = SCENARIO.parent.parent
LAB = REPO / "tools" / "lab" / "lab.sh"
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
IMAGE = EPHEMERAL / "chroot"  # Molecule's instance, converged with playbooks/site.yml
CASES = EPHEMERAL / "cases"
SITE = REPO / "playbooks" / "site.yml"
ROLES = SCENARIO / "roles.yml"

# What each role writes with the defaults, by path (files only; the boot loader
# configuration grub-mkconfig regenerates is the plan role's handler's).
OWNERS = {
    "/etc/default/grub.d/90-kvmops-iommu.cfg": "plan",
    "/etc/default/grub.d/90-kvmops-numa_pinning.cfg": "numa_pinning",
    "/etc/systemd/system.conf.d/90-kvmops-cpuaffinity.conf": "numa_pinning",
    "/etc/default/irqbalance": "numa_pinning",
    "/etc/sysctl.d/90-kvmops-numa.conf": "numa_pinning",
    "/etc/default/grub.d/90-kvmops-hugepages.cfg": "hugepages",
    "/etc/fstab": "hugepages",
    "/etc/tmpfiles.d/kvmops-memory.conf": "hugepages",
    "/etc/sysctl.d/90-kvmops-memory.conf": "hugepages",
    "/etc/sysctl.d/90-kvmops-net.conf": "sysctl_net",
    "/etc/modules-load.d/kvmops-br_netfilter.conf": "sysctl_net",
}
GRUB_CFG = "/boot/grub/grub.cfg"

# Ansible's own remote temporary files, not a role's.
ANSIBLE_TMP = re.compile(r"^/root/\.ansible(/|$)")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LOOP = re.compile(r"/dev/loop\d+(p\d+)?")
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def cpulist(cpus):
    """CPU ids as a kernel cpulist string (0-3,8): how the roles write them."""
    ranges, cpus = [], sorted(cpus)
    for cpu in cpus:
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in ranges)


def written(root, stamp):
    """{path: bytes} of the regular files and symlinks changed in the chroot ``root``
    after ``stamp`` (paths as seen inside the chroot), but Ansible's temporary files."""
    found = subprocess.run(
        ["find", str(root), "-xdev", "-newer", str(stamp), "(", "-type", "f", "-o", "-type", "l", ")", "-print0"],
        check=True, capture_output=True).stdout.split(b"\0")
    files = {}
    for raw in filter(None, found):
        local = raw.decode()
        path = "/" + os.path.relpath(local, root)
        if ANSIBLE_TMP.match(path):
            continue
        files[path] = os.readlink(local).encode() if os.path.islink(local) else Path(local).read_bytes()
    return files


def comparable(files):
    """``files`` with what differs between two chroots by construction made equal: the
    UUID and loop device of each chroot's own root filesystem (in grub.cfg, fstab)."""
    return {path: LOOP.sub("/dev/loopN", UUID.sub("<uuid>", data.decode(errors="replace")))
            for path, data in files.items()}


def grub_linux_args(text):
    """The arguments of the `linux` lines of a grub.cfg, one list per line."""
    return [line.split()[2:] for line in text.splitlines() if line.strip().startswith("linux\t")
            or line.strip().startswith("linux ")]


def new_chroot(name):
    """A fresh chroot CASES/name and its stamp (taken once it is unpacked)."""
    root = CASES / name
    CASES.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(LAB), "chroot-new", str(root)], check=True, capture_output=True)
    stamp = CASES / (name + ".stamp")
    stamp.touch()
    return root, stamp


class Run:
    """One ansible-playbook run: its return code, output, recap and what it wrote."""

    def __init__(self, name, rc, output, seconds, files):
        self.name = name
        self.rc = rc
        self.output = output
        self.seconds = seconds
        self.files = files
        self.recap = {m.group(1): dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups()[1:])))
                      for m in RECAP.finditer(output)}

    def changed(self, host):
        return self.recap[host]["changed"]

    def changed_tasks(self):
        """The names of the tasks that reported a change (for failure messages)."""
        names, task = [], None
        for line in self.output.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                task = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith("changed:") and task not in names:
                names.append(task)
        return names

    def tail(self, lines=40):
        return "\n".join(self.output.splitlines()[-lines:])

    def __repr__(self):
        return "<%s rc=%s %.0fs %s>" % (self.name, self.rc, self.seconds, self.recap)


class Case:
    """A chroot of its own and the runs made on it (every run sees the same stamp)."""

    def __init__(self, name, host_vars=None):
        self.name = name
        self.host_vars = host_vars or {}
        self.root = self.stamp = None
        self.runs = []

    def play(self, playbook, log, *args):
        inventory = CASES / (self.name + ".inventory.yml")
        host = {"ansible_host": str(self.root), "ansible_connection": "community.general.chroot",
                "ansible_python_interpreter": "/usr/bin/python3", "kvmops_apply_runtime": False}
        host.update(self.host_vars)
        # kvm_hosts: the group playbooks/site.yml targets.
        inventory.write_text(json.dumps({"kvm_hosts": {"hosts": {self.name: host}}}, indent=2))  # JSON is YAML
        env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PY_COLORS="0")
        start = time.monotonic()
        proc = subprocess.run(["ansible-playbook", "-i", str(inventory), "--limit", self.name, str(playbook), *args],
                              cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seconds = time.monotonic() - start
        (CASES / (self.name + "." + log + ".log")).write_text(proc.stdout)
        run = Run("%s/%s" % (self.name, log), proc.returncode, proc.stdout, seconds, written(self.root, self.stamp))
        self.runs.append(run)
        return run


def roles_alone_and_reversed(case):
    """Converge, then converge again (must change nothing)."""
    case.first = case.play(ROLES, "converge")
    case.second = case.play(ROLES, "idempotence") if case.first.rc == 0 else None


def check_mode_and_refusals(case):
    """On one fresh chroot, which none of these runs may change: site.yml in check mode,
    then with a bad variable, then with a guest that cannot be placed."""
    case.check = case.play(SITE, "check", "--check", "--diff")
    case.swappiness = case.play(SITE, "swappiness", "-e", '{"hugepages_swappiness": 300}')
    case.guest = case.play(SITE, "guest", "-e", '{"kvmops_plan_guests": [{"name": "big", "vcpus": 64, "memory_mb": 1024}]}')


# Longest first: two workers, the machine's two cores.
CASE_JOBS = [
    (Case("reversed"), roles_alone_and_reversed),
    (Case("pristine"), check_mode_and_refusals),
    (Case("alone_numa_pinning"), roles_alone_and_reversed),
    (Case("alone_hugepages"), roles_alone_and_reversed),
    (Case("alone_sysctl_net"), roles_alone_and_reversed),
    # plan alone writes nothing with the defaults: the iommu section is asked for.
    (Case("alone_plan", {"kvmops_plan_iommu": True, "kvmops_plan_iommu_passthrough": True}), roles_alone_and_reversed),
]


@pytest.fixture(scope="session")
def helpers():
    """This module: the test modules cannot import it (pytest --import-mode=importlib)."""
    return sys.modules[__name__]


@pytest.fixture(scope="session")
def cases(request):
    """Every extra case, run (two at a time); {name: Case}."""
    start = time.monotonic()

    def work(item):
        case, job = item
        begin = time.monotonic()
        case.root, case.stamp = new_chroot(case.name)
        case.unpacked = time.monotonic() - begin
        job(case)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(work, CASE_JOBS))
    report = request.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["extra cases: %d fresh chroots, two at a time, done in %.0fs" % (len(CASE_JOBS), time.monotonic() - start)]
    lines += ["  %s: chroot-new %.0fs, %s" % (case.name, case.unpacked, ", ".join(map(repr, case.runs)))
              for case, _job in CASE_JOBS]
    (CASES / "timings.txt").write_text("\n".join(lines) + "\n")
    if report is not None:
        report.write_line("")
        for line in lines:
            report.write_line(line)
    return {case.name: case for case, _job in CASE_JOBS}


@pytest.fixture(scope="session")
def site_files():
    """What the converge and idempotence runs of site.yml wrote into the instance."""
    return written(IMAGE, Path(str(IMAGE) + ".stamp"))
