"""Issue 21 on the lab host: a converge interrupted at each point where a role changes the
host (kill -9 of ansible-playbook, or a power cut: QEMU stopped) leaves every file it
manages whole, old or new, never a mix or a truncation, the host boots through GRUB with
the old or the new command line, a rerun converges and the run after it changes nothing.

The points: hugepages' one module run that writes its drop-ins (kernel arguments, tmpfiles,
qemu.conf, swappiness) before anything is applied, the runtime huge page allocation,
sysctl_net's write-apply-verify of its drop-in, numa_pinning's libvirt domain redefine,
and the GRUB regeneration handler. The fault fires when ansible-playbook prints the
task's (or handler's) banner, plus a delay that lets the module start on the host.

The play is molecule/lab/interrupt.yml. Policy A is the lab's (vars/policy.yml); policy B
changes each of those roles: two more huge pages per node (a kernel argument, so GRUB is
regenerated, and an allocation), net.core.somaxconn 8192 (a sysctl drop-in) and the guest
without huge pages (a domain redefine). Each test moves the host from one to the other (A
to B, B to A, ...) and checks:

- right after the fault: grub.cfg passes grub-script-check and its kernel lines agree on
  hugepages=; every managed file (the boot, sysctl, tmpfiles, systemd and libvirt files
  and the guest's inactive XML) is either what it was before or what the converged target
  has (sha256), none is missing; after a power cut the host came back (new boot id) with
  the old or the new command line;
- the rerun converges, the run after it changes 0, no file of /etc or /boot is lost and no
  temporary file of a kvmops writer is left.

Each outcome, a failed one too, is appended as a JSON line to KVMOPS_FAULT_LOG (the
closing note's table; default: faults.jsonl in Molecule's ephemeral directory).
KVMOPS_FAULT_POINTS (comma-separated point names) runs a subset.
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]

POINTS = {
    # name: (banner regex, seconds after the banner)
    "drop-ins written": (r"TASK \[kvmops\.hypervisor\.hugepages : Boot-time huge pages", 3),
    "huge page allocation": (r"TASK \[kvmops\.hypervisor\.hugepages : Allocate the planned huge pages", 3),
    "sysctl apply": (r"TASK \[kvmops\.hypervisor\.sysctl_net : Write, apply and verify", 3),
    "libvirt redefine": (r"TASK \[kvmops\.hypervisor\.numa_pinning : Pin the planned guests", 3),
    "GRUB regeneration": (r"RUNNING HANDLER \[kvmops\.hypervisor\.plan : Regenerate the boot loader", 4),
}
FAULTS = ("kill -9", "power cut")

POLICY_B = {
    "kvmops_plan_hugepages_per_node": {"0": 18, "1": 82},
    "sysctl_net_overrides": {"net.core.somaxconn": 8192},
    "kvmops_plan_guests": [{"name": "lab-guest", "vcpus": 2, "memory_mb": 128, "hugepages": False,
                            "smt": "exclusive"}],
}

MANAGED = ("/boot/grub/grub.cfg /etc/default/grub /etc/default/grub.d /etc/sysctl.d /etc/tmpfiles.d "
           "/etc/systemd/system.conf.d /etc/default/irqbalance /etc/libvirt/qemu.conf /etc/libvirt/qemu "
           "/etc/fstab /etc/modprobe.d /etc/modules-load.d")
GUEST = "lab-guest"

# the state the host is in (the lab policy after the converge); each test flips it
STATE = {"policy": "A"}


def selected():
    wanted = os.environ.get("KVMOPS_FAULT_POINTS")
    names = [name.strip() for name in wanted.split(",")] if wanted else list(POINTS)
    return [(fault, name) for fault in FAULTS for name in names]


def command(tmp_path, policy, name):
    extra = dict(POLICY_B) if policy == "B" else {}
    extra["kvmops_reboot_allowed"] = False
    path = tmp_path / ("%s-%s.yml" % (name, policy))
    path.write_text(yaml.safe_dump(extra))
    return ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "interrupt.yml"),
            "-e", "@%s" % (SCENARIO / "vars" / "policy.yml"), "-e", "@%s" % path]


def env():
    return dict(os.environ, PYTHONUNBUFFERED="1", ANSIBLE_FORCE_COLOR="0")


def play(tmp_path, policy, name):
    proc = subprocess.run(command(tmp_path, policy, name), env=env(), capture_output=True, text=True,
                          check=False)
    return proc.returncode, proc.stdout + proc.stderr


def changed(output):
    match = re.search(r"kvmlab\s+: ok=\d+\s+changed=(\d+)", output)
    assert match, output[-3000:]
    return int(match.group(1))


def snapshot(host):
    """sha256 of every managed file (path -> sum) and of the guest's inactive XML."""
    out = host.check_output("find %s -xdev -type f 2>/dev/null | sort | xargs -r sha256sum" % MANAGED)
    sums = {}
    for line in out.splitlines():
        digest, path = line.split(None, 1)
        sums[path.strip()] = digest
    xml = host.run("virsh -c qemu:///system dumpxml --inactive %s | sha256sum" % GUEST)
    sums["virsh dumpxml --inactive " + GUEST] = xml.stdout.split()[0] if xml.rc == 0 else "missing"
    return sums


def all_files(host):
    return set(host.check_output("find /etc /boot -xdev -type f | sort").splitlines())


def grub_whole(host):
    """grub.cfg parses, has kernel lines, and they agree on hugepages= (one value)."""
    check = host.run("grub-script-check /boot/grub/grub.cfg")
    assert check.rc == 0, check.stderr
    lines = [line.split() for line in host.file("/boot/grub/grub.cfg").content_string.splitlines()
             if line.strip().startswith("linux")]
    assert lines, "no linux line in grub.cfg"
    values = {tuple(token for token in line if token.startswith("hugepages=")) for line in lines}
    assert len(values) == 1, values
    return values.pop()


def boot_id(host):
    return host.file("/proc/sys/kernel/random/boot_id").content_string.strip()


def run_until(tmp_path, policy, name, banner, delay):
    """Start the play; return it with the moment its output matched banner (None if it
    ended first) and the output read so far."""
    proc = subprocess.Popen(command(tmp_path, policy, name), env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = []
    for line in proc.stdout:
        output.append(line)
        if re.search(banner, line):
            time.sleep(delay)
            return proc, True, "".join(output)
    proc.wait()
    return proc, False, "".join(output)


def record(entry):
    path = os.environ.get("KVMOPS_FAULT_LOG")
    if not path:
        path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "faults.jsonl")
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(entry) + "\n")


@pytest.mark.extra
@pytest.mark.parametrize("fault,point", selected())
def test_interrupted_at_each_point(host, lab, tmp_path, fault, point):
    source = STATE["policy"]
    target = "B" if source == "A" else "A"
    name = "%s-%s" % (fault.replace(" ", "").replace("-", ""), point.split()[0])
    banner, delay = POINTS[point]
    before = snapshot(host)
    grub_before = grub_whole(host)
    files_before = all_files(host)
    running = host.file("/proc/cmdline").content_string.split()
    boot_before = boot_id(host)
    entry = {"fault": fault, "point": point, "from": source, "to": target}
    try:
        STATE["policy"] = "?"  # unknown until the rerun converges
        started = time.time()
        proc, fired, output = run_until(tmp_path, target, name, banner, delay)
        assert fired, "the play ended before %r: %s" % (point, output[-3000:])
        if fault == "kill -9":
            os.killpg(proc.pid, signal.SIGKILL)  # ansible-playbook and its workers, at once
            proc.wait(timeout=60)
            # what the host had started may finish: wait until no module of the run is left
            # (AnsiballZ unpacks each module in a payload directory it removes at the end;
            # testinfra's own commands are not such modules) and grub-mkconfig has ended
            deadline = time.time() + 300
            busy = ("pgrep -f '[g]rub-mkconfig' || ls -d /tmp/ansible_*_payload_* "
                    "/root/.ansible/tmp/ansible_*_payload_* 2>/dev/null | grep -v command_payload")
            while time.time() < deadline and host.run(busy).rc == 0:
                time.sleep(3)
        else:
            lab("restart")  # QEMU stopped: the guest loses what it had not written
            proc.kill()
            proc.wait(timeout=120)
            entry["came back"] = boot_id(host) != boot_before
            assert entry["came back"], "the host did not boot again"
            booted = host.file("/proc/cmdline").content_string.split()
            entry["booted the old command line"] = booted == running
        entry["seconds to the fault"] = round(time.time() - started)
        middle = snapshot(host)
        hugepages_args = grub_whole(host)
        entry["grub.cfg whole"] = True
        rc, rerun = play(tmp_path, target, name + "-rerun")
        entry["rerun rc"] = rc
        assert rc == 0, rerun[-3000:]
        after = snapshot(host)
        rc, again = play(tmp_path, target, name + "-again")
        assert rc == 0, again[-3000:]
        entry["again changed"] = changed(again)
        STATE["policy"] = target
        # every managed file was the old one or the new one at the fault, none missing
        mixed = {path: digest for path, digest in middle.items()
                 if digest not in (before.get(path), after.get(path))}
        # libvirtd saves a domain's XML as <name>.xml.new, then renames it (virFileRewrite);
        # a power cut can leave the .new, which libvirt never loads (it reads *.xml only) and
        # replaces at its next save. Its own file, recorded apart; <name>.xml must be old or new.
        entry["libvirt .xml.new at the fault"] = sorted(
            path for path in mixed if path.startswith("/etc/libvirt/") and path.endswith(".xml.new")
            and path[:-len(".new")] not in mixed)
        for path in entry["libvirt .xml.new at the fault"]:
            del mixed[path]
        missing = sorted(set(before) - set(middle) - (set(before) - set(after)))
        entry["files neither old nor new"] = sorted(mixed)
        entry["files lost at the fault"] = missing
        lost = sorted(files_before - all_files(host))
        left = host.check_output("find /etc /boot -xdev -name '.kvmops-*' | sort").split()
        entry["files lost after the rerun"] = lost
        entry["temporary files left"] = left
        # GRUB's kernel lines at the fault had the old hugepages= or the new one
        assert hugepages_args in (grub_before, grub_whole(host)), (hugepages_args, grub_before)
        assert not mixed, mixed
        assert not missing, missing
        assert not lost, lost
        assert not left, left
        assert entry["again changed"] == 0, again[-3000:]
    finally:
        record(entry)


@pytest.mark.extra
def test_interrupted_runs_leave_the_lab_policy(host, lab, tmp_path):
    """Back to the lab policy (A), booted with its command line, for whatever runs next."""
    if STATE["policy"] != "A":
        rc, output = play(tmp_path, "A", "restore")
        assert rc == 0, output[-3000:]
        STATE["policy"] = "A"
    expected = grub_whole(host)
    running = tuple(token for token in host.file("/proc/cmdline").content_string.split()
                    if token.startswith("hugepages="))
    if running != expected:
        lab("restart")
    running = tuple(token for token in host.file("/proc/cmdline").content_string.split()
                    if token.startswith("hugepages="))
    assert running == expected
