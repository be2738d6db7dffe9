# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a running QEMU sandboxed and confined as the plan says? One judgement, used by the
seccomp_sandbox section (its per-domain report) and by the audit (fresh process facts).

What a sandboxed, confined QEMU shows:

- libvirt passes ``-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,
  resourcecontrol=deny`` unless ``seccomp_sandbox = 0`` (then ``-sandbox off``)
  (libvirt src/qemu/qemu_command.c, qemuBuildSeccompSandboxCommandLine);
- QEMU installs the filter with libseccomp's TSYNC on every thread and libseccomp sets
  no_new_privs first, so each /proc/PID/task/TID/status shows ``Seccomp: 2`` (filter)
  and ``NoNewPrivs: 1`` (Documentation/filesystems/proc.rst; Documentation/userspace-api/
  seccomp_filter.rst);
- libvirt's AppArmor driver loads a profile ``libvirt-<uuid>`` per domain
  (src/security/security_apparmor.c), shown as ``libvirt-<uuid> (enforce)`` in
  /proc/PID/attr/current; the SELinux driver runs it as ``svirt_t`` (``svirt_tcg_t`` for
  a TCG guest) with a unique MCS category pair (``s0:c12,c345``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

SANDBOX_ON = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
APPLIED = "applied"
PENDING_RESTART = "pending-restart"
DRIFTED = "drifted"
OPT_OUT = "opt-out"

_MCS_PAIR = re.compile(r":s0:c\d+,c\d+$")
_SVIRT = re.compile(r":(svirt_t|svirt_tcg_t):")


def sandboxed(process):
    """(ok, why-not) for the seccomp part of a process fact."""
    problems = []
    arg = process.get("sandbox")
    if not arg or not arg.startswith("on"):
        problems.append("no -sandbox on on its command line (%s)" % ("-sandbox %s" % arg if arg else "none"))
    counts = process.get("seccomp_threads") or {}
    bad = dict((mode, count) for mode, count in counts.items() if mode != "2")
    if not counts:
        problems.append("Seccomp of its threads unknown")
    elif bad:
        problems.append("threads not in seccomp filter mode: %s" % ", ".join(
            "%d with Seccomp %s" % (count, mode) for mode, count in sorted(bad.items())))
    nnp = process.get("no_new_privs_threads") or {}
    bad = dict((mode, count) for mode, count in nnp.items() if mode != "1")
    if bad:
        problems.append("threads without NoNewPrivs: %s" % ", ".join(
            "%d with NoNewPrivs %s" % (count, mode) for mode, count in sorted(bad.items())))
    return not problems, "; ".join(problems)


def confined(process, driver):
    """(ok, why-not, label) for the LSM part; ``driver`` is apparmor, selinux or None."""
    if driver == "apparmor":
        label = process.get("apparmor_label") or process.get("security_label")
        uuid = process.get("uuid")
        want = "libvirt-%s" % uuid if uuid else "libvirt-"
        if label and label.startswith(want) and label.endswith("(enforce)"):
            return True, "", label
        return False, "AppArmor label %s, expected %s (enforce)" % (label or "(none)", want + ("" if uuid else "<uuid>")), label
    if driver == "selinux":
        label = process.get("security_label")
        if label and _SVIRT.search(label) and _MCS_PAIR.search(label):
            return True, "", label
        return False, "SELinux context %s, expected svirt_t with an MCS pair" % (label or "(none)"), label
    return True, "", process.get("apparmor_label") or process.get("security_label")


def judge(process, expect, conf_applied):
    """{name, pid, status, sandbox, label, reason} for one QEMU process.

    ``expect``: the section's ``expect`` ({seccomp: -1/0/1, driver, optouts: [name]});
    ``conf_applied``: qemu.conf holds the planned settings (so a process that lacks them
    was started before the change, or the daemon was not restarted)."""
    name = process.get("name") or "pid %s" % process.get("pid")
    result = {"name": name, "pid": process.get("pid"), "uuid": process.get("uuid"),
              "sandbox": process.get("sandbox"), "label": None, "status": APPLIED, "reason": ""}
    if name in (expect.get("optouts") or []):
        result.update(status=OPT_OUT, reason="listed in seccomp_sandbox_optout_domains")
        return result
    problems = []
    if expect.get("seccomp", 1) != 0:
        ok, why = sandboxed(process)
        if not ok:
            problems.append(why)
    ok, why, label = confined(process, expect.get("driver"))
    result["label"] = label
    if not ok:
        problems.append(why)
    if not problems:
        if expect.get("driver") is None:
            result["reason"] = "no security driver planned (no usable LSM, or security_driver none): not confined"
        return result
    if conf_applied:
        result.update(status=PENDING_RESTART, reason="%s; qemu.conf holds the planned settings: the domain was started "
                                                     "before them (or the libvirt daemon was not restarted), restart "
                                                     "the domain" % "; ".join(problems))
    else:
        result.update(status=DRIFTED, reason="%s; qemu.conf does not hold the planned settings yet (config pending)"
                                             % "; ".join(problems))
    return result


def config_applied(qemu_conf_now, planned):
    """True when every planned ``{key: value}`` is what the parsed qemu.conf holds."""
    if not isinstance(qemu_conf_now, dict):
        return False
    return all(qemu_conf_now.get(key) == value for key, value in (planned or {}).items())
