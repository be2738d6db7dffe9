# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seccomp_sandbox section: qemu.conf lines, hardening sysctls, refusals naming the
variable, and the per-domain judgement. Expected values written out by hand (from
libvirt's qemu.conf.in and the kernel's sysctl documentation), not computed with the
code under test."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.config_files import edit_lines
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.security import HARDENING_SYSCTLS
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.services import parse_libvirt_conf
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.planner import PlanError, plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections import seccomp_sandbox

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("kvmops_plan_seccomp_helpers", os.path.join(HERE, "test_plan.py"))
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)

QEMU_CONF = "/etc/libvirt/qemu.conf"
SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
UUID = "0b7a3c52-1111-4c4c-8e8e-5a5a5a5a5a5a"

# The lab host: Debian 12, AppArmor as installed, no kdump, images on ext4.
RUNNING = {
    "kernel.kptr_restrict": "0", "kernel.dmesg_restrict": "1", "kernel.unprivileged_bpf_disabled": "2",
    "net.core.bpf_jit_harden": "0", "kernel.perf_event_paranoid": "3", "kernel.yama.ptrace_scope": "0",
    "fs.protected_symlinks": "1", "fs.protected_hardlinks": "1", "fs.protected_fifos": "1",
    "fs.protected_regular": "2", "fs.suid_dumpable": "0", "kernel.randomize_va_space": "2",
    "kernel.sysrq": "438", "kernel.kexec_load_disabled": "0", "vm.unprivileged_userfaultfd": "0",
    "kernel.modules_disabled": "0", "net.ipv4.ip_forward": "1",
}


def security(drivers=("apparmor",), kdump=False, yama=True, fstype="ext4", trusted=True, **sysctl):
    running = dict(RUNNING)
    running.update(sysctl)
    return {
        "lsm": ["lockdown", "capability", "yama", "apparmor"],
        "apparmor": {"enabled": "apparmor" in drivers, "active": "apparmor" in drivers},
        "selinux": {"enabled": "selinux" in drivers, "enforcing": True if "selinux" in drivers else None},
        "yama": yama,
        "libvirt_security_drivers": list(drivers),
        "kdump": {"in_use": kdump, "reasons": ["crashkernel= on the kernel command line"] if kdump else []},
        "sysctl": running,
        "image_storage": {"path": "/var/lib/libvirt/images", "mount": "/", "fstype": fstype,
                          "trusted_xattrs": trusted},
    }


def host(processes=(), qemu_conf=None, **kwargs):
    facts = _helpers.make_facts()
    facts["libvirt"] = {"present": True, "networks": [], "nwfilter_users": [],
                        "qemu_conf": qemu_conf or {}}
    facts["security"] = security(**kwargs)
    facts["qemu_processes"] = list(processes)
    return facts


def build(options=None, facts=None):
    result = plan(facts or host(), {}, sections={"seccomp_sandbox": options or {}})
    return result["seccomp_sandbox"], result["warnings"]


def qemu(name="lab1", uuid=UUID, sandbox=SANDBOX, threads=4, seccomp="2", nnp="1",
         label=None, **extra):
    proc = {"pid": 4242, "name": name, "uuid": uuid, "binary": "/usr/bin/qemu-system-x86_64",
            "seccomp": int(seccomp), "no_new_privs": int(nnp), "threads": threads,
            "seccomp_threads": {seccomp: threads}, "no_new_privs_threads": {nnp: threads},
            "sandbox": sandbox, "security_label": label or "libvirt-%s (enforce)" % uuid,
            "apparmor_label": label or "libvirt-%s (enforce)" % uuid,
            "bridge_helper": False, "thread_context": False}
    proc.update(extra)
    return proc


# --------------------------------------------------------------------------- qemu.conf

def test_default_lines_on_a_debian_apparmor_host():
    section, _warnings = build()
    assert section["lines"] == {QEMU_CONF: {
        "cgroup_device_acl": False,
        "dynamic_ownership": "dynamic_ownership = 1",
        "group": False,
        "max_files": False,
        "max_processes": False,
        "namespaces": 'namespaces = [ "mount" ]',
        "remember_owner": "remember_owner = 1",
        "seccomp_sandbox": "seccomp_sandbox = 1",
        "security_default_confined": "security_default_confined = 1",
        "security_driver": 'security_driver = "apparmor"',
        "security_require_confined": False,
        "user": False,
    }}
    assert section["expect"] == {"seccomp": 1, "driver": "apparmor", "sandbox_arg": SANDBOX, "optouts": []}


def test_the_lines_read_back_as_libvirt_reads_them():
    """What the facts' virConf parser reads from the written file is the plan's qemu_conf."""
    section, _warnings = build({"cgroup_device_acl": ["/dev/null", "/dev/full", "/dev/zero", "/dev/random",
                                                      "/dev/urandom", "/dev/ptmx", "/dev/kvm", "/dev/userfaultfd"],
                                "max_files": 32768, "user": "libvirt-qemu",
                                "qemu_conf_settings": {"vnc_listen": "127.0.0.1", "max_core": "unlimited"}})
    text = edit_lines('#seccomp_sandbox = 1\nuser = "root"\n', section["lines"][QEMU_CONF])
    parsed = parse_libvirt_conf(text)
    assert parsed == {"seccomp_sandbox": 1, "security_driver": "apparmor", "security_default_confined": 1,
                      "namespaces": ["mount"], "user": "libvirt-qemu", "dynamic_ownership": 1, "remember_owner": 1,
                      "cgroup_device_acl": ["/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom",
                                            "/dev/ptmx", "/dev/kvm", "/dev/userfaultfd"],
                      "max_files": 32768, "vnc_listen": "127.0.0.1", "max_core": "unlimited"}
    assert parsed == section["qemu_conf"]


def test_selinux_host_gets_selinux_and_no_lsm_leaves_the_key_with_a_warning():
    section, _warnings = build(facts=host(drivers=("selinux",)))
    assert section["lines"][QEMU_CONF]["security_driver"] == 'security_driver = "selinux"'
    section, warnings = build(facts=host(drivers=()))
    assert section["lines"][QEMU_CONF]["security_driver"] is False
    assert section["expect"]["driver"] is None
    assert any("no security driver is usable" in warning for warning in warnings)


def test_none_only_when_the_operator_says_so():
    section, warnings = build({"security_driver": "none"})
    assert section["lines"][QEMU_CONF]["security_driver"] == 'security_driver = "none"'
    assert any("none: every guest runs unconfined" in warning for warning in warnings)


def test_remember_owner_auto_off_on_storage_without_trusted_xattrs():
    section, warnings = build(facts=host(fstype="nfs4", trusted=False))
    assert section["lines"][QEMU_CONF]["remember_owner"] == "remember_owner = 0"
    assert any("nfs4" in warning for warning in warnings)
    section, _warnings = build({"remember_owner": True}, facts=host(fstype="nfs4", trusted=False))
    assert section["lines"][QEMU_CONF]["remember_owner"] == "remember_owner = 1"


def test_require_confined_is_opt_in():
    section, _warnings = build({"require_confined": True})
    assert section["lines"][QEMU_CONF]["security_require_confined"] == "security_require_confined = 1"


@pytest.mark.parametrize("options, facts, variable, words", [
    ({"seccomp": 2}, None, "seccomp_sandbox_seccomp", "must be -1"),
    ({"seccomp": "on"}, None, "seccomp_sandbox_seccomp", "must be -1"),
    ({"seccomp": True}, None, "seccomp_sandbox_seccomp", "must be -1"),
    ({"security_driver": "selinux"}, None, "seccomp_sandbox_security_driver", "not available on this host"),
    ({"security_driver": "smack"}, None, "seccomp_sandbox_security_driver", "unknown security driver"),
    ({"security_driver": ["none", "apparmor"]}, None, "seccomp_sandbox_security_driver", "must stand alone"),
    ({"security_driver": "dac"}, None, "seccomp_sandbox_security_driver", "always enabled"),
    ({"require_confined": True}, host(drivers=()), "seccomp_sandbox_require_confined", "refuse to start"),
    ({"namespaces": ["mount", "net"]}, None, "seccomp_sandbox_namespaces", "unknown namespace"),
    ({"user": "root"}, None, "seccomp_sandbox_user", "root"),
    ({"group": "+0"}, None, "seccomp_sandbox_group", "root"),
    ({"cgroup_device_acl": ["/dev/null", "/dev/kvm"]}, None, "seccomp_sandbox_cgroup_device_acl", "/dev/full"),
    ({"max_files": -1}, None, "seccomp_sandbox_max_files", "0 or more"),
    ({"max_processes": "many"}, None, "seccomp_sandbox_max_processes", "0 or more"),
    ({"qemu_conf_settings": {"seccomp_sandboxx": 1}}, None, "seccomp_sandbox_qemu_conf_settings",
     "not a qemu.conf setting"),
    ({"qemu_conf_settings": {"vnc_tls": "yes"}}, None, "seccomp_sandbox_qemu_conf_settings", "must be 0 or 1"),
    ({"qemu_conf_settings": {"vnc_listen": 5}}, None, "seccomp_sandbox_qemu_conf_settings", "must be a string"),
    ({"qemu_conf_settings": {"nvram": "/x:/y"}}, None, "seccomp_sandbox_qemu_conf_settings", "list of strings"),
    ({"qemu_conf_settings": {"max_core": "lots"}}, None, "seccomp_sandbox_qemu_conf_settings", "unlimited"),
    ({"qemu_conf_settings": {"seccomp_sandbox": 0}}, None, "seccomp_sandbox_qemu_conf_settings", "own variable"),
    ({"qemu_conf_settings": {"hugetlbfs_mount": "/dev/hugepages"}}, None, "seccomp_sandbox_qemu_conf_settings",
     "hugepages role"),
    ({"remember_owner": "maybe"}, None, "seccomp_sandbox_remember_owner", "auto"),
    ({"sysctl_overrides": {"net.ipv4.ip_forward": 0}}, None, "seccomp_sandbox_sysctl_overrides", "sysctl_net"),
    ({"sysctl_overrides": {"kernel.modules_disabled": 1}}, None, "seccomp_sandbox_sysctl_overrides", "vfio-pci"),
    ({"sysctl_overrides": {"kernel.kexec_load_disabled": 1}}, None, "seccomp_sandbox_sysctl_overrides",
     "seccomp_sandbox_kexec_load_disabled"),
    ({"sysctl_overrides": {"vm.unprivileged_userfaultfd": 0}}, None, "seccomp_sandbox_sysctl_overrides",
     "post-copy"),
    ({"sysctl_overrides": {"kernel.sysrq": 1.5}}, None, "seccomp_sandbox_sysctl_overrides", "integer"),
    ({"kexec_load_disabled": "sometimes"}, None, "seccomp_sandbox_kexec_load_disabled", "auto"),
    ({"apparmor_numa_rule": "maybe"}, None, "seccomp_sandbox_apparmor_numa_rule", "auto"),
    ({"apparmor_numa_rule": True}, None, "seccomp_sandbox_apparmor_numa_rule", "does not say"),
])
def test_bad_input_refused_naming_the_variable(options, facts, variable, words):
    with pytest.raises(PlanError) as caught:
        build(options, facts)
    assert str(caught.value).startswith(variable + ": ")
    assert words in str(caught.value)


def test_settings_already_in_qemu_conf_that_libvirt_refuses_are_warned_about():
    _section, warnings = build(facts=host(qemu_conf={"max_files": "many", "user": "root"}))
    assert any("max_files: must be an integer" in warning for warning in warnings)
    assert any("user = 'root'" in warning for warning in warnings)


# --------------------------------------------------------------------------- sysctls

def test_hardening_drop_in_on_the_lab_host():
    section, _warnings = build()
    assert section["sysctl"]["path"] == "/etc/sysctl.d/90-kvmops-hardening.conf"
    assert section["sysctl"]["values"] == {
        "kernel.kptr_restrict": "2", "kernel.dmesg_restrict": "1", "kernel.unprivileged_bpf_disabled": "1",
        "net.core.bpf_jit_harden": "2", "kernel.perf_event_paranoid": "3", "kernel.yama.ptrace_scope": "2",
        "fs.protected_symlinks": "1", "fs.protected_hardlinks": "1", "fs.protected_fifos": "1",
        "fs.protected_regular": "2", "fs.suid_dumpable": "0", "kernel.randomize_va_space": "2",
        "kernel.sysrq": "176", "kernel.kexec_load_disabled": "1"}
    assert set(section["sysctl"]["sources"]) == set(section["sysctl"]["values"])
    assert "KSPP" in section["sysctl"]["sources"]["kernel.kptr_restrict"]


def test_never_the_keys_that_break_a_hypervisor():
    section, _warnings = build(facts=host(kdump=True))
    for key in ("vm.unprivileged_userfaultfd", "net.ipv4.ip_forward", "kernel.modules_disabled",
                "kernel.kexec_load_disabled"):
        assert key not in section["sysctl"]["values"]
    assert section["kexec"].startswith("auto: kdump is in use")


def test_userfaultfd_0_allowed_only_without_postcopy():
    section, _warnings = build({"postcopy_migration": False, "sysctl_overrides": {"vm.unprivileged_userfaultfd": 0}})
    assert section["sysctl"]["values"]["vm.unprivileged_userfaultfd"] == "0"


def test_overrides_change_add_and_remove_keys():
    section, _warnings = build({"sysctl_overrides": {"kernel.sysrq": 0, "kernel.yama.ptrace_scope": None,
                                                     "dev.tty.ldisc_autoload": 0},
                                "kexec_load_disabled": False})
    values = section["sysctl"]["values"]
    assert values["kernel.sysrq"] == "0"
    assert values["dev.tty.ldisc_autoload"] == "0"
    assert "kernel.yama.ptrace_scope" not in values
    assert "kernel.kexec_load_disabled" not in values
    assert section["sysctl"]["origins"]["kernel.sysrq"] == "seccomp_sandbox_sysctl_overrides"


def test_keys_the_kernel_lacks_are_left_out_with_a_warning():
    missing = {"net.core.bpf_jit_harden": None, "kernel.yama.ptrace_scope": None}
    section, warnings = build(facts=host(yama=False, **missing))
    assert "net.core.bpf_jit_harden" not in section["sysctl"]["values"]
    assert "kernel.yama.ptrace_scope" not in section["sysctl"]["values"]
    assert any("bpf_jit_harden left out" in warning for warning in warnings)


def test_facts_read_every_key_the_section_writes_or_refuses():
    keys = set(key for key, _value, _reason in seccomp_sandbox.HARDENING) | set(seccomp_sandbox.REFUSED)
    keys.add(seccomp_sandbox.USERFAULTFD_KEY)
    assert keys <= set(HARDENING_SYSCTLS)


# --------------------------------------------------------------------------- domains

APPLIED_CONF = {"seccomp_sandbox": 1, "security_driver": "apparmor", "security_default_confined": 1,
                "namespaces": ["mount"], "dynamic_ownership": 1, "remember_owner": 1}


def test_a_sandboxed_confined_domain_is_applied():
    section, _warnings = build(facts=host([qemu()], qemu_conf=APPLIED_CONF))
    assert [(d["name"], d["status"]) for d in section["domains"]] == [("lab1", "applied")]


def test_a_domain_started_before_the_config_is_pending_restart():
    old = qemu(sandbox=None, seccomp="0", nnp="0", label="unconfined")
    section, _warnings = build(facts=host([old], qemu_conf=APPLIED_CONF))
    assert section["domains"][0]["status"] == "pending-restart"
    assert "restart the domain" in section["domains"][0]["reason"]
    section, _warnings = build(facts=host([old], qemu_conf={}))
    assert section["domains"][0]["status"] == "drifted"
    assert "config pending" in section["domains"][0]["reason"]


def test_one_thread_outside_the_filter_is_not_sandboxed():
    proc = qemu(seccomp_threads={"2": 3, "0": 1})
    section, _warnings = build(facts=host([proc], qemu_conf=APPLIED_CONF))
    assert section["domains"][0]["status"] == "pending-restart"
    assert "1 with Seccomp 0" in section["domains"][0]["reason"]


def test_complain_mode_or_another_uuid_is_not_confined():
    for label in ("libvirt-%s (complain)" % UUID, "libvirt-ffff (enforce)"):
        section, _warnings = build(facts=host([qemu(label=label)], qemu_conf=APPLIED_CONF))
        assert section["domains"][0]["status"] == "pending-restart", label


def test_selinux_context_needs_svirt_and_an_mcs_pair():
    conf = dict(APPLIED_CONF, security_driver="selinux")
    good = qemu(label="system_u:system_r:svirt_tcg_t:s0:c12,c345", apparmor_label=None)
    section, _warnings = build(facts=host([good], qemu_conf=conf, drivers=("selinux",)))
    assert section["domains"][0]["status"] == "applied"
    bad = qemu(label="system_u:system_r:virtd_t:s0", apparmor_label=None)
    section, _warnings = build(facts=host([bad], qemu_conf=conf, drivers=("selinux",)))
    assert section["domains"][0]["status"] == "pending-restart"


def test_opt_out_domains_and_breakers():
    helper = qemu(name="br", bridge_helper=True, sandbox=None)
    ctx = qemu(name="tc", thread_context=True)
    section, warnings = build({"optout_domains": ["br"]}, facts=host([helper, ctx], qemu_conf=APPLIED_CONF))
    assert [(d["name"], d["status"]) for d in section["domains"]] == [("br", "opt-out"), ("tc", "applied")]
    assert not any("domain br" in warning for warning in warnings)
    assert any("domain tc uses -object thread-context" in warning for warning in warnings)


def test_host_validate_expectations_follow_the_facts():
    section, _warnings = build()
    assert section["host_validate"]["tcg"] is True  # make_facts has no vmx/svm flag
    assert section["host_validate"]["expected"] == []


# ------------------------------------------- the AppArmor NUMA cpumap rule (Debian 12)

LOCAL = "/etc/apparmor.d/local/abstractions/libvirt-qemu"


def abstraction(node_cpumap=False, included=True, exists=True, blank=True, kvmops=False, local_rule=False):
    """kvm_host.security.apparmor.libvirt_qemu_abstraction; the default is Debian 12's
    libvirt 9.0 package: no rule, the local file included and empty."""
    return {"path": "/etc/apparmor.d/abstractions/libvirt-qemu", "exists": node_cpumap is not None,
            "node_cpumap": node_cpumap,
            "local": {"path": LOCAL, "included": included, "exists": exists, "blank": blank, "kvmops": kvmops,
                      "node_cpumap": local_rule}}


def with_abstraction(facts=None, **kwargs):
    facts = facts or host()
    facts["security"]["apparmor"]["libvirt_qemu_abstraction"] = abstraction(**kwargs)
    return facts


def test_numa_rule_written_where_libvirts_abstraction_lacks_it():
    section, warnings = build(facts=with_abstraction())
    text = section["files"][LOCAL]
    assert text.startswith("# Managed by Ansible (kvmops.hypervisor.seccomp_sandbox)")
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules == ["/sys/devices/system/node/*/cpumap r,"]
    assert section["apparmor_numa_rule"].startswith("written to %s" % LOCAL)
    assert not [w for w in warnings if "apparmor_numa_rule" in w]
    # the next run sees its own file: the same text, nothing else
    again = build(facts=with_abstraction(blank=False, kvmops=True, local_rule=True))[0]
    assert again["files"] == {LOCAL: text}


def test_numa_rule_not_written_where_libvirt_has_it_and_ours_given_back_empty():
    section = build(facts=with_abstraction(node_cpumap=True))[0]
    assert section["files"] == {}
    # an upgrade to libvirt with the rule (Debian 12 to 13): our file back to empty
    section = build(facts=with_abstraction(node_cpumap=True, blank=False, kvmops=True, local_rule=True))[0]
    assert section["files"] == {LOCAL: ""}


def test_numa_rule_only_for_apparmor_confined_guests_unless_asked():
    section = build(facts=with_abstraction(host(drivers=())))[0]
    assert section["files"] == {}
    assert "not confined by AppArmor" in section["apparmor_numa_rule"]
    section = build({"apparmor_numa_rule": True}, with_abstraction(host(drivers=())))[0]
    assert LOCAL in section["files"]
    section = build({"apparmor_numa_rule": False}, with_abstraction())[0]
    assert section["files"] == {}
    section = build({"apparmor_numa_rule": False}, with_abstraction(blank=False, kvmops=True, local_rule=True))[0]
    assert section["files"] == {LOCAL: ""}


def test_never_over_an_administrators_local_file():
    section, warnings = build(facts=with_abstraction(blank=False))
    assert section["files"] == {}
    assert any(w.startswith("seccomp_sandbox_apparmor_numa_rule: %s has rules of its own" % LOCAL)
               and "/sys/devices/system/node/*/cpumap r," in w for w in warnings), warnings
    with pytest.raises(PlanError, match=r"^seccomp_sandbox_apparmor_numa_rule: .*has rules of its own"):
        build({"apparmor_numa_rule": True}, with_abstraction(blank=False))
    # the administrator's file already has it: nothing, no warning
    section, warnings = build(facts=with_abstraction(blank=False, local_rule=True))
    assert section["files"] == {}
    assert not [w for w in warnings if "apparmor_numa_rule" in w]


def test_no_local_include_is_a_warning_not_a_write():
    section, warnings = build(facts=with_abstraction(included=False))
    assert section["files"] == {}
    assert any("includes no %s" % LOCAL in w for w in warnings), warnings
    with pytest.raises(PlanError, match=r"^seccomp_sandbox_apparmor_numa_rule: "):
        build({"apparmor_numa_rule": True}, with_abstraction(included=False))


def test_the_local_file_is_created_when_the_package_did_not():
    section = build(facts=with_abstraction(exists=False, blank=False))[0]
    assert LOCAL in section["files"]
