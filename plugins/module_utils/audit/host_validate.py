# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``virt-host-validate qemu``: its output parsed, and each FAIL/WARN classified as
expected (with the reason) or not. Pure functions.

Output format (libvirt tools/virt-host-validate-common.c, virHostMsgCheck
``"%6s: Checking %-60s: "`` and virHostMsgPass/virHostMsgFail): one line per check,
``  QEMU: Checking <what>   : PASS`` or ``: FAIL (<hint>)``, ``: WARN (<hint>)``,
``: NOTE (<hint>)``; the words are coloured when stdout is a terminal (stripped here).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LINE = re.compile(r"^\s*(?P<component>[A-Za-z]+):\s+Checking\s+(?P<check>.*?)\s*:\s+"
                   r"(?P<result>PASS|WARN|FAIL|NOTE|SKIP)(?:\s+\((?P<hint>.*)\))?\s*$")

# Checks that fail or warn for a known reason, by the host's facts (substring of the check).
TCG = (
    ("hardware virtualization", "no VT-x/AMD-V (TCG lab: QEMU emulates the CPU)"),
    ("/dev/kvm exists", "no KVM module loaded (TCG lab)"),
    ("/dev/kvm is accessible", "no /dev/kvm (TCG lab)"),
    # virHostValidateIOMMU picks the vendor's ACPI table (DMAR, IVRS) from the vmx/svm CPU
    # flag; without either it says "Unknown if this platform has IOMMU support"
    ("device assignment IOMMU support", "no vmx/svm CPU flag (TCG): virt-host-validate cannot tell the IOMMU "
                                        "vendor, even with an emulated IOMMU"),
)
NO_IOMMU = (
    ("device assignment IOMMU support", "no IOMMU on this host (kvm_host.iommu.units empty)"),
    ("IOMMU is enabled by kernel", "no IOMMU on this host (kvm_host.iommu.units empty)"),
)
ALWAYS = (
    ("secure guest support", "no AMD SEV / Intel TDX / s390 PV on this host: only confidential guests need it"),
)


def parse(text):
    """[{component, check, result, hint}] of the output; lines that are not checks are skipped."""
    checks = []
    for line in (text or "").splitlines():
        match = _LINE.match(_ANSI.sub("", line))
        if match:
            checks.append({"component": match.group("component"), "check": match.group("check"),
                           "result": match.group("result"), "hint": match.group("hint")})
    return checks


def expectations(tcg, iommu, extra=()):
    """[(substring, reason)] of the FAILs/WARNs expected on this host."""
    result = list(ALWAYS)
    if tcg:
        result.extend(TCG)
    if iommu is False:
        result.extend(NO_IOMMU)
    result.extend((item, "listed in seccomp_sandbox_validate_expected") for item in extra or ())
    return result


def classify(checks, tcg, iommu, extra=()):
    """Each FAIL/WARN with ``expected`` (bool) and ``reason``; PASS/NOTE lines are dropped."""
    known = expectations(tcg, iommu, extra)
    result = []
    for check in checks:
        if check["result"] not in ("FAIL", "WARN"):
            continue
        reason = next((why for needle, why in known if needle.lower() in check["check"].lower()), None)
        result.append(dict(check, expected=reason is not None, reason=reason or ""))
    return result


def summary(checks):
    counts = {}
    for check in checks:
        counts[check["result"]] = counts.get(check["result"], 0) + 1
    return counts


def run_validate(module, tcg, iommu, expected):
    """The module's result fields (also what section_state reports for the audit)."""
    binary = module.get_bin_path("virt-host-validate")
    if binary is None:
        return {"present": False, "checks": [], "problems": [], "unexpected": 0, "summary": {}}
    _rc, out, _err = module.run_command([binary, "qemu"], environ_update={"LC_ALL": "C"})
    checks = parse(out)
    problems = classify(checks, tcg, iommu, expected)
    return {"present": True, "checks": checks, "problems": problems,
            "unexpected": len([item for item in problems if not item["expected"]]), "summary": summary(checks)}
