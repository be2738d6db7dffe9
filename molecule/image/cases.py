"""The image scenario's extra cases, and what its tests share (tests/conftest.py loads this).

The instance (MOLECULE_EPHEMERAL_DIRECTORY/chroot) is converged by Molecule with
playbooks/site.yml. The extra cases (roles alone, reversed, check mode, refusals) each get
a fresh chroot of their own (tools/lab/lab.sh chroot-new, under
MOLECULE_EPHEMERAL_DIRECTORY/cases/; destroy.yml removes them) and run through the
community.general.chroot connection. prepare.yml starts `python3 cases.py` in the
background, so that they run on the second core while Molecule converges the instance;
it writes cases/results.json, which the tests wait for and read (two jobs at a time:
the machine has 2 cores).

A chroot is a local directory: what a run wrote is read from the controller, as the files
changed after a stamp taken when the chroot was unpacked (`find -newer`, on the chroot's own
filesystem only: not its /dev, /proc, /sys mounts).
"""

import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SCENARIO = Path(__file__).resolve().parent
REPO = SCENARIO.parent.parent
LAB = REPO / "tools" / "lab" / "lab.sh"
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
IMAGE = EPHEMERAL / "chroot"  # Molecule's instance, converged with playbooks/site.yml
CASES = EPHEMERAL / "cases"
SITE = REPO / "playbooks" / "site.yml"
ROLES = SCENARIO / "roles.yml"

# What each role writes, by path (files only; the boot loader configuration grub-mkconfig
# regenerates is the plan role's handler's). /etc/libvirt/qemu.conf is not here: its lines
# are shared (seccomp_sandbox's, hugepages' hugetlbfs_mount) and the chroot has no libvirt.
OWNERS = {
    # the former owner iommu: the plan role only takes back what 0.2.x wrote there
    "/etc/default/grub.d/90-kvmops-iommu.cfg": "plan",
    "/etc/default/grub.d/90-kvmops-numa_pinning.cfg": "numa_pinning",
    "/etc/systemd/system.conf.d/90-kvmops-cpuaffinity.conf": "numa_pinning",
    "/etc/systemd/system/init.scope.d/90-kvmops-allowedcpus.conf": "numa_pinning",
    "/etc/systemd/system/system.slice.d/90-kvmops-allowedcpus.conf": "numa_pinning",
    "/etc/systemd/system/user.slice.d/90-kvmops-allowedcpus.conf": "numa_pinning",
    "/etc/default/irqbalance": "numa_pinning",
    "/etc/sysctl.d/90-kvmops-numa.conf": "numa_pinning",
    "/etc/tmpfiles.d/kvmops-cpu.conf": "numa_pinning",
    "/etc/default/grub.d/90-kvmops-hugepages.cfg": "hugepages",
    "/etc/fstab": "hugepages",
    "/etc/tmpfiles.d/kvmops-memory.conf": "hugepages",
    "/etc/sysctl.d/90-kvmops-memory.conf": "hugepages",
    "/etc/sysctl.d/90-kvmops-net.conf": "sysctl_net",
    "/etc/udev/rules.d/90-kvmops-nvme.rules": "nvme_queues",
    # the IOMMU arguments (kvmops_plan_iommu or sriov_vhost_iommu), VFs, vhost_net
    "/etc/default/grub.d/90-kvmops-sriov_vhost.cfg": "sriov_vhost",
    "/etc/modules-load.d/kvmops-vhost_net.conf": "sriov_vhost",
    "/etc/modules-load.d/kvmops-vfio.conf": "sriov_vhost",
    "/etc/modprobe.d/kvmops-vhost_net.conf": "sriov_vhost",
    "/etc/modprobe.d/kvmops-vfio.conf": "sriov_vhost",
    "/etc/udev/rules.d/90-kvmops-sriov.rules": "sriov_vhost",
    "/etc/sysctl.d/90-kvmops-hardening.conf": "seccomp_sandbox",
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
    """{path: text} of the regular files and symlinks changed in the chroot ``root``
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
        files[path] = os.readlink(local) if os.path.islink(local) else Path(local).read_text(errors="replace")
    return files


def comparable(files):
    """``files`` with what differs between two chroots by construction made equal: the
    UUID and loop device of each chroot's own root filesystem (in grub.cfg, fstab)."""
    return {path: LOOP.sub("/dev/loopN", UUID.sub("<uuid>", data)) for path, data in files.items()}


def grub_linux_args(text):
    """The arguments of the `linux` lines of a grub.cfg, one list per line."""
    return [line.split()[2:] for line in text.splitlines() if line.strip().startswith("linux\t")
            or line.strip().startswith("linux ")]


DROPIN_LINE = re.compile(r'^GRUB_CMDLINE_LINUX="\$GRUB_CMDLINE_LINUX (.*)"$', re.M)


def dropin_tokens(root):
    """The kernel arguments the kvmops drop-ins under ``root`` append, in file name order."""
    tokens = []
    for path in sorted((Path(root) / "etc/default/grub.d").glob("90-kvmops-*.cfg")):
        for line in DROPIN_LINE.findall(path.read_text()):
            tokens += line.split()
    return tokens


def make_grub_cfg_stale(root):
    """grub.cfg as a run leaves it that wrote the drop-ins and failed before its handler
    regenerated GRUB's configuration: the `linux` lines without the drop-ins' arguments.
    Returns the arguments taken out."""
    tokens = set(dropin_tokens(root))
    path = Path(root) / GRUB_CFG.lstrip("/")
    lines, removed = [], []
    for line in path.read_text().splitlines(True):
        words = line.split()
        if words and words[0] == "linux":
            kept = [word for word in words if word not in tokens]
            removed += [word for word in words if word in tokens]
            line = line[:len(line) - len(line.lstrip())] + " ".join(kept) + "\n"
        lines.append(line)
    path.write_text("".join(lines))
    return sorted(set(removed))


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

    def plays(self):
        """[(play name, [names of the tasks that reported a change])], in run order."""
        plays, task = [], None
        for line in self.output.splitlines():
            if line.startswith("PLAY [") and not line.startswith("PLAY RECAP"):
                plays.append((line.split("[", 1)[1].rsplit("]", 1)[0], []))
            elif line.startswith("skipping: no hosts matched") and plays:
                plays.pop()  # a play of another case's host
            elif line.startswith(("TASK [", "RUNNING HANDLER [")):
                task = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith("changed:") and plays and task not in plays[-1][1]:
                plays[-1][1].append(task)
        return plays

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

    def to_json(self):
        return {"name": self.name, "rc": self.rc, "output": self.output, "seconds": self.seconds, "files": self.files}

    @classmethod
    def from_json(cls, data):
        return cls(data["name"], data["rc"], data["output"], data["seconds"], data["files"])


class Case:
    """A chroot of its own and the runs made on it (every run sees the same stamp)."""

    def __init__(self, name, host_vars=None):
        self.name = name
        self.host_vars = host_vars or {}
        self.root = self.stamp = None
        self.unpacked = 0.0
        self.runs = []
        self.steps = {}

    def __getattr__(self, step):  # case.check, case.roles...: the run of that step
        try:
            return self.__dict__["steps"][step]
        except KeyError:
            raise AttributeError(step) from None

    def play(self, playbook, log, *args, env=None):
        inventory = CASES / (self.name + ".inventory.yml")
        host = {"ansible_host": str(self.root), "ansible_connection": "community.general.chroot",
                "ansible_python_interpreter": "/usr/bin/python3", "kvmops_apply_runtime": False}
        host.update(self.host_vars)
        # kvm_hosts: the group playbooks/site.yml targets.
        inventory.write_text(json.dumps({"kvm_hosts": {"hosts": {self.name: host}}}, indent=2))  # JSON is YAML
        env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PY_COLORS="0", **(env or {}))
        start = time.monotonic()
        proc = subprocess.run(["ansible-playbook", "-i", str(inventory), "--limit", self.name, str(playbook), *args],
                              cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              check=False)
        seconds = time.monotonic() - start
        (CASES / (self.name + "." + log + ".log")).write_text(proc.stdout)
        run = Run("%s/%s" % (self.name, log), proc.returncode, proc.stdout, seconds, written(self.root, self.stamp))
        self.runs.append(run)
        self.steps[log] = run
        return run


def refusals_then_alone(case):
    """site.yml with a bad variable, then with a guest that cannot be placed, then tuned's
    own mode without tuned installed (none may change a file), then each role alone (roles.yml)."""
    case.play(SITE, "swappiness", "-e", '{"hugepages_swappiness": 300}')
    case.play(SITE, "guest", "-e", '{"kvmops_plan_guests": [{"name": "big", "vcpus": 64, "memory_mb": 1024}]}')
    case.play(SITE, "tuned", "-e", '{"kvmops_tuned_mode": "own"}')
    case.play(ROLES, "roles")


def check_then_reversed(case):
    """site.yml in check mode (may not change a file), then every role in reverse order,
    then site.yml with private_role_vars (the roles' options hidden from its planning task,
    so the roles plan their sections themselves: the same plan, nothing to change), then
    site.yml --tags reboot on a grub.cfg made stale (the reboot role's comparison regenerates it)."""
    case.play(SITE, "check", "--check", "--diff")
    case.play(ROLES, "roles")
    case.play(SITE, "private", env={"ANSIBLE_PRIVATE_ROLE_VARS": "True"})
    # the reboot role, left out of the converged runs above, runs for a stale grub.cfg. With
    # --tags reboot (AWX's "reboot window"): no role runs, so only the facts gathered at the
    # start can tell (on a full run each role's kernel_cmdline step sees it too)
    (CASES / (case.name + ".stale-removed.json")).write_text(json.dumps(make_grub_cfg_stale(case.root)))
    case.play(SITE, "stale", "--tags", "reboot")


# Two workers, the machine's two cores.
CASE_JOBS = [
    (Case("reversed"), check_then_reversed),
    (Case("alone"), refusals_then_alone),
]


def main():
    """Run every case (two jobs at a time) and write cases/results.json."""
    start = time.monotonic()

    def work(item):
        case, job = item
        begin = time.monotonic()
        case.root, case.stamp = new_chroot(case.name)
        case.unpacked = time.monotonic() - begin
        job(case)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(work, CASE_JOBS))
    lines = ["extra cases: %d fresh chroots, two jobs at a time, done in %.0fs" % (len(CASE_JOBS), time.monotonic() - start)]
    lines += ["  %s: chroot-new %.0fs, %s" % (case.name, case.unpacked, ", ".join(map(repr, case.runs)))
              for case, _job in CASE_JOBS]
    results = {"summary": lines,
               "cases": {case.name: {step: run.to_json() for step, run in case.steps.items()} for case, _job in CASE_JOBS}}
    partial = CASES / "results.json.part"
    partial.write_text(json.dumps(results))
    partial.rename(CASES / "results.json")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
