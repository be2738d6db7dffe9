"""virt-host-validate qemu output parsed and classified. TCG_LAB is the output published for
a Debian/Ubuntu guest without VT-x (virt-host-validate of libvirt's
tools/virt-host-validate-common.c, "%6s: Checking %-60s: " then PASS or "FAIL (hint)"): under
TCG the IOMMU check cannot tell the vendor (no vmx/svm flag) and says "Unknown". KVM_HOST is
written by hand after the same source. The padding is shortened to keep lines short; the
lab test (molecule/lab/tests/test_74_seccomp.py) checks the real output."""

from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.host_validate import classify, parse, summary

TCG_LAB = """\
  QEMU: Checking for hardware virtualization  : FAIL (Only emulated CPUs are available, performance will be significantly limited)
  QEMU: Checking if device /dev/vhost-net exists  : PASS
  QEMU: Checking if device /dev/net/tun exists  : PASS
  QEMU: Checking for cgroup 'cpu' controller support  : PASS
  QEMU: Checking for cgroup 'cpuacct' controller support  : PASS
  QEMU: Checking for cgroup 'cpuset' controller support  : PASS
  QEMU: Checking for cgroup 'memory' controller support  : PASS
  QEMU: Checking for cgroup 'devices' controller support  : PASS
  QEMU: Checking for cgroup 'blkio' controller support  : PASS
  QEMU: Checking for device assignment IOMMU support  : WARN (Unknown if this platform has IOMMU support)
  QEMU: Checking for secure guest support  : WARN (Unknown if this platform has Secure Guest support)
"""

KVM_HOST = """\
  QEMU: Checking for hardware virtualization  : \x1b[32mPASS\x1b[0m
  QEMU: Checking if device /dev/kvm exists  : PASS
  QEMU: Checking if device /dev/kvm is accessible  : PASS
  QEMU: Checking for device assignment IOMMU support  : PASS
  QEMU: Checking if IOMMU is enabled by kernel  : WARN (IOMMU appears to be disabled in kernel. Add intel_iommu=on to kernel cmdline arguments)
  QEMU: Checking for cgroup 'devices' controller support  : FAIL (Enable 'devices' in kernel Kconfig file or mount/enable cgroup controller in your system)
"""


def test_parse_every_check_line():
    checks = parse(TCG_LAB + "\nsome other line\n")
    assert len(checks) == 11
    assert checks[0] == {"component": "QEMU", "check": "for hardware virtualization", "result": "FAIL",
                         "hint": "Only emulated CPUs are available, performance will be significantly limited"}
    assert checks[1] == {"component": "QEMU", "check": "if device /dev/vhost-net exists", "result": "PASS",
                         "hint": None}
    assert summary(checks) == {"FAIL": 1, "PASS": 8, "WARN": 2}


def test_tcg_lab_has_only_expected_problems():
    problems = classify(parse(TCG_LAB), tcg=True, iommu=False)
    assert [(item["check"], item["expected"]) for item in problems] == [
        ("for hardware virtualization", True),
        ("for device assignment IOMMU support", True),
        ("for secure guest support", True)]
    assert "TCG" in problems[0]["reason"]


def test_tcg_with_an_emulated_iommu_still_expects_the_unknown_vendor_warning():
    checks = parse("  QEMU: Checking for device assignment IOMMU support  : WARN (Unknown if this platform has IOMMU support)\n")
    assert [item["expected"] for item in classify(checks, tcg=True, iommu=True)] == [True]
    assert [item["expected"] for item in classify(checks, tcg=False, iommu=True)] == [False]


def test_on_a_kvm_host_the_same_failures_are_unexpected():
    problems = classify(parse(TCG_LAB), tcg=False, iommu=True)
    assert [item["expected"] for item in problems] == [False, False, True]


def test_colour_codes_stripped_and_operator_expectations():
    checks = parse(KVM_HOST)
    assert checks[0]["result"] == "PASS"
    problems = classify(checks, tcg=False, iommu=True, extra=["cgroup 'devices'"])
    assert [(item["check"], item["expected"]) for item in problems] == [
        ("if IOMMU is enabled by kernel", False),
        ("for cgroup 'devices' controller support", True)]
    assert problems[1]["reason"] == "listed in seccomp_sandbox_validate_expected"
