"""section_apply: the steps of kernel_cmdline, config_files (files), the fstab lines of
ansible.posix.mount, config_files (lines), qemu_conf_lines and sysctl_dropin in one module
run, each doing exactly what its own module does (same files written, same idempotence,
check mode writing nothing), with the steps that changed named for the handlers."""

import hashlib
import os

import pytest
from ansible.module_utils import basic
from ansible_collections.ansible.posix.plugins.modules import mount as posix_mount

from ansible_collections.kvmops.hypervisor.plugins.modules import config_files as config_files_module
from ansible_collections.kvmops.hypervisor.plugins.modules import kernel_cmdline as kernel_cmdline_module
from ansible_collections.kvmops.hypervisor.plugins.modules import qemu_conf_lines as qemu_conf_module
from ansible_collections.kvmops.hypervisor.plugins.modules import section_apply
from ansible_collections.kvmops.hypervisor.plugins.modules import sysctl_dropin as sysctl_dropin_module
from fake_grub import install as install_fake_grub
from module_runner import run_module

ARGS = [["isolcpus", "domain,managed_irq,1-3"], ["irqaffinity", "0"]]
FILES = {"/etc/systemd/system.conf.d/90-kvmops-cpuaffinity.conf": "[Manager]\nCPUAffinity=0\n",
         "/etc/modules-load.d/kvmops-old.conf": None}
FSTAB = [{"path": "/dev/hugepages1G", "src": "hugetlbfs", "fstype": "hugetlbfs", "opts": "pagesize=1G"}]
FSTAB_BEFORE = "UUID=0a1b / ext4 errors=remount-ro 0 1\n"
LINES = {"/etc/default/irqbalance": {"IRQBALANCE_BANNED_CPULIST": "IRQBALANCE_BANNED_CPULIST=1-3"}}
QEMU = {"path": "/etc/libvirt/qemu.conf", "lines": {"seccomp_sandbox": "seccomp_sandbox = 1"}}
SYSCTL = {"settings": {"kernel.numa_balancing": "0"}, "path": "/etc/sysctl.d/90-kvmops-numa.conf",
          "header": "Managed by kvmops", "apply": False}


def no_command(self, argv, **_kwargs):
    raise AssertionError("section_apply ran %r with a root other than /" % (argv,))


@pytest.fixture(autouse=True)
def no_host_commands(monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "run_command", no_command)


def put(root, path, text, mode=0o644):
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)
    os.chmod(full, mode)


def make_host(tmp_path, name, monkeypatch):
    root = tmp_path / name
    bindir = tmp_path / "bin"
    if not bindir.exists():
        install_fake_grub(bindir)
        monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ.get("PATH", "")))
    put(root, "/etc/default/grub", 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n')
    put(root, "/proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-13-amd64 root=UUID=1 ro quiet\n")
    os.makedirs(str(root / "boot" / "grub"))
    put(root, "/etc/default/irqbalance", "#IRQBALANCE_BANNED_CPULIST=\n")
    put(root, "/etc/libvirt/qemu.conf", "#seccomp_sandbox = 1\n", mode=0o600)
    put(root, "/etc/modules-load.d/kvmops-old.conf", "old\n")
    put(root, "/proc/sys/kernel/numa_balancing", "1\n")
    put(root, "/etc/fstab", FSTAB_BEFORE)
    return root


def tree(root):
    found = {}
    for directory, _dirs, names in os.walk(str(root)):
        for name in names:
            full = os.path.join(directory, name)
            with open(full, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            found[os.path.relpath(full, str(root))] = (digest, os.stat(full).st_mode & 0o7777)
    return found


def every_step(root):
    return {"kernel_cmdline": {"owner": "numa_pinning", "args": ARGS}, "files": FILES, "fstab": FSTAB, "lines": LINES,
            "qemu_conf": QEMU, "sysctl": SYSCTL, "root": str(root),
            "notify_on": {"kernel_cmdline": "kvmops boot config changed"}}


def test_one_run_writes_what_the_step_modules_write_and_a_second_changes_nothing(monkeypatch, tmp_path):
    combined = make_host(tmp_path, "combined", monkeypatch)
    first = run_module(monkeypatch, section_apply.main, every_step(combined))
    assert not first.failed, first.result
    assert first.result["changed"] is True
    assert first.result["changed_parts"] == ["kernel_cmdline", "files", "fstab", "lines", "qemu_conf", "sysctl"]
    assert first.result["steps"]["files"]["changed_files"] == sorted(FILES)
    assert first.result["steps"]["fstab"] == {"changed_mounts": ["/dev/hugepages1G"]}
    assert len(first.result["diff"]) >= 6
    # the same host applied step by step with each step's own module
    separate = make_host(tmp_path, "separate", monkeypatch)
    for main, args in ((kernel_cmdline_module.main, {"owner": "numa_pinning", "args": ARGS, "regenerate": False}),
                       (config_files_module.main, {"files": FILES}),
                       (posix_mount.main, dict(FSTAB[0], state="present", fstab=str(separate / "etc/fstab"))),
                       (config_files_module.main, {"lines": LINES}),
                       (qemu_conf_module.main, QEMU),
                       (sysctl_dropin_module.main, SYSCTL)):
        if main is not posix_mount.main:  # ansible.posix.mount has no root; its fstab option instead
            args = dict(args, root=str(separate))
        outcome = run_module(monkeypatch, main, args)
        assert not outcome.failed and outcome.result["changed"], outcome.result
    assert tree(combined) == tree(separate)
    again = run_module(monkeypatch, section_apply.main, every_step(combined))
    assert not again.failed and again.result["changed"] is False and again.result["changed_parts"] == []


def test_check_mode_writes_nothing_and_predicts_the_same_steps(monkeypatch, tmp_path):
    root = make_host(tmp_path, "host", monkeypatch)
    before = tree(root)
    check = run_module(monkeypatch, section_apply.main, every_step(root), check_mode=True)
    assert not check.failed, check.result
    assert check.result["changed_parts"] == ["kernel_cmdline", "files", "fstab", "lines", "qemu_conf", "sysctl"]
    assert tree(root) == before
    real = run_module(monkeypatch, section_apply.main, every_step(root))
    assert real.result["changed_parts"] == check.result["changed_parts"]
    assert [d.get("before_header") for d in real.result["diff"]] == [d.get("before_header") for d in check.result["diff"]]


def test_only_the_steps_given_run(monkeypatch, tmp_path):
    root = make_host(tmp_path, "host", monkeypatch)
    outcome = run_module(monkeypatch, section_apply.main, {"lines": LINES, "root": str(root)})
    assert not outcome.failed and outcome.result["changed_parts"] == ["lines"]
    assert list(outcome.result["steps"]) == ["lines"]
    assert not os.path.exists(str(root / "etc/default/grub.d"))


def test_a_failing_step_stops_the_run_naming_it_after_the_steps_before(monkeypatch, tmp_path):
    root = make_host(tmp_path, "host", monkeypatch)
    args = every_step(root)
    args["qemu_conf"] = {"lines": {"seccomp_sandbox": "seccomp_sandbox = maybe"}}
    before_sysctl = tree(root).get("etc/sysctl.d/90-kvmops-numa.conf")
    outcome = run_module(monkeypatch, section_apply.main, args)
    assert outcome.failed
    assert outcome.result["msg"].startswith("qemu_conf: lines: /etc/libvirt/qemu.conf not written"), outcome.result["msg"]
    assert outcome.result["changed"] is True
    assert outcome.result["changed_parts"] == ["kernel_cmdline", "files", "fstab", "lines"]
    assert "sysctl" not in outcome.result["steps"]
    assert tree(root).get("etc/sysctl.d/90-kvmops-numa.conf") == before_sysctl  # never reached


@pytest.mark.parametrize("step, value, message", [
    ("kernel_cmdline", {"args": ARGS}, "kernel_cmdline: missing required arguments: owner"),
    ("kernel_cmdline", {"owner": "x", "backend": "lilo"}, "kernel_cmdline: value of backend must be one of"),
    ("qemu_conf", {"path": "/etc/libvirt/qemu.conf"}, "qemu_conf: missing required arguments: lines"),
    ("sysctl", {"path": "/etc/sysctl.d/x.conf"}, "sysctl: missing required arguments: settings"),
    ("sysctl", {"settings": {}, "root": "/"}, "sysctl: Unsupported parameters"),
    ("fstab", [{"path": "/dev/hugepages1G", "src": "hugetlbfs"}], "fstab: missing required arguments: fstype"),
    ("fstab", [dict(FSTAB[0], pages=4)], "fstab: Unsupported parameters"),
    ("fstab", [dict(FSTAB[0], path="dev/hugepages1G")], "fstab: 'dev/hugepages1G' is not an absolute mount point"),
])
def test_bad_step_options_fail_naming_the_step_before_anything_is_written(monkeypatch, tmp_path, step, value, message):
    root = make_host(tmp_path, "host", monkeypatch)
    before = tree(root)
    outcome = run_module(monkeypatch, section_apply.main, {step: value, "root": str(root)})
    assert outcome.failed and outcome.result["msg"].startswith(message), outcome.result["msg"]
    assert tree(root) == before


def test_the_fstab_step_runs_between_files_and_lines_and_alone(monkeypatch, tmp_path):
    root = make_host(tmp_path, "host", monkeypatch)
    args = {"fstab": FSTAB, "lines": LINES, "root": str(root), "notify_on": {"fstab": "fstab changed"}}
    outcome = run_module(monkeypatch, section_apply.main, args)
    assert not outcome.failed and outcome.result["changed_parts"] == ["fstab", "lines"]
    with open(str(root / "etc/fstab")) as handle:
        assert handle.read() == FSTAB_BEFORE + "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G 0 0\n"
    assert [d["before_header"] for d in outcome.result["diff"]] == ["/etc/fstab", "/etc/default/irqbalance"]
    again = run_module(monkeypatch, section_apply.main, args)
    assert again.result["changed"] is False and again.result["steps"]["fstab"] == {"changed_mounts": []}
    empty = run_module(monkeypatch, section_apply.main, {"fstab": [], "root": str(root)})
    assert empty.result["steps"] == {}
