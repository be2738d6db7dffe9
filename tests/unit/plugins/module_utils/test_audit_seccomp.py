"""Audit rows of the seccomp_sandbox section: one per running QEMU (observe() reads the
processes and qemu.conf from a fixture tree written by hand) and one per FAIL/WARN of
virt-host-validate."""

import os

from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.observe import observe
from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.report import audit_report, audit_table
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import section

UUID = "6f1c2a3b-0000-4000-8000-000000000001"
SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
CONF = "/etc/libvirt/qemu.conf"
SECTION = section(
    lines={CONF: {"seccomp_sandbox": "seccomp_sandbox = 1", "security_driver": 'security_driver = "apparmor"'}},
    qemu_conf={"seccomp_sandbox": 1, "security_driver": "apparmor"},
    expect={"seccomp": 1, "driver": "apparmor", "sandbox_arg": SANDBOX, "optouts": ["legacy"]},
    host_validate={"tcg": True, "iommu": False, "expected": []},
)


def write(root, path, data):
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as handle:
        handle.write(data if isinstance(data, bytes) else data.encode())


def qemu(root, pid, name, sandboxed, label, threads=(2, 2)):
    argv = "/usr/bin/qemu-system-x86_64\0-name\0guest=%s,debug-threads=on\0-uuid\0%s\0" % (name, UUID)
    if sandboxed:
        argv += "-sandbox\0%s\0" % SANDBOX
    write(root, "/proc/%d/cmdline" % pid, argv)
    write(root, "/proc/%d/status" % pid, "NoNewPrivs:\t%d\nSeccomp:\t%d\n" % (sandboxed, 2 if sandboxed else 0))
    for index, mode in enumerate(threads):
        write(root, "/proc/%d/task/%d/status" % (pid, pid + index),
              "NoNewPrivs:\t%d\nSeccomp:\t%d\n" % (1 if mode == 2 else 0, mode))
    write(root, "/proc/%d/attr/apparmor/current" % pid, label + "\n")


def rows_for(tmp_path, conf_text, validate=None):
    write(tmp_path, CONF, conf_text)
    plan = {"seccomp_sandbox": SECTION}
    observed = observe(Reader(str(tmp_path)), plan)
    if validate is not None:
        observed["seccomp_sandbox"]["host_validate"] = validate
    return audit_report({"kernel": {"cmdline": [], "pending_cmdline": []}}, plan, observed, "lab")


def domain_rows(report):
    return [(row["item"], row["status"]) for row in report["rows"] if row["area"] == "domain"]


def test_sandboxed_confined_domain_applied_old_one_pending_restart(tmp_path):
    qemu(tmp_path, 100, "new", True, "libvirt-%s (enforce)" % UUID)
    qemu(tmp_path, 200, "old", False, "unconfined", threads=(0, 0))
    report = rows_for(tmp_path, "seccomp_sandbox = 1\nsecurity_driver = \"apparmor\"\n")
    assert domain_rows(report) == [("new sandbox", "applied"), ("old sandbox", "pending-restart")]
    assert report["restart_pending"] is True
    assert "pending restart" in audit_table(report)[-1]


def test_config_not_written_yet_is_drifted_and_an_opt_out_is_applied(tmp_path):
    qemu(tmp_path, 200, "old", False, "unconfined", threads=(0, 0))
    qemu(tmp_path, 300, "legacy", False, "unconfined", threads=(0, 0))
    report = rows_for(tmp_path, "#seccomp_sandbox = 1\n")
    assert domain_rows(report) == [("old sandbox", "drifted"), ("legacy sandbox", "applied")]
    notes = dict((row["item"], row["note"]) for row in report["rows"] if row["area"] == "domain")
    assert "config pending" in notes["old sandbox"]
    assert notes["legacy sandbox"].startswith("opt-out")


def test_one_thread_without_the_filter_is_found(tmp_path):
    qemu(tmp_path, 100, "new", True, "libvirt-%s (enforce)" % UUID, threads=(2, 0))
    report = rows_for(tmp_path, "seccomp_sandbox = 1\nsecurity_driver = \"apparmor\"\n")
    assert domain_rows(report) == [("new sandbox", "pending-restart")]


def test_validate_rows_expected_ones_applied(tmp_path):
    validate = {"present": True, "problems": [
        {"component": "QEMU", "check": "for hardware virtualization", "result": "FAIL", "hint": "Only emulated CPUs",
         "expected": True, "reason": "no VT-x/AMD-V (TCG lab: QEMU emulates the CPU)"},
        {"component": "QEMU", "check": "if device /dev/vhost-net exists", "result": "FAIL", "hint": None,
         "expected": False, "reason": ""}]}
    report = rows_for(tmp_path, "", validate)
    rows = [(row["item"], row["status"], row["note"]) for row in report["rows"] if row["area"] == "virt-host-validate"]
    assert rows == [("for hardware virtualization", "applied", "expected: no VT-x/AMD-V (TCG lab: QEMU emulates the CPU)"),
                    ("if device /dev/vhost-net exists", "drifted", "unexpected")]
    report = rows_for(tmp_path, "", {"present": False})
    assert [row["status"] for row in report["rows"] if row["area"] == "virt-host-validate"] == ["drifted"]
