# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decisions each section of the plan makes (formerly in role vars, templates and
filters): one test per decision, expected values written out by hand."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl_conf import render
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.planner import PlanError, plan

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("kvmops_plan_sections_helpers", os.path.join(HERE, "test_plan.py"))
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
make_facts = _helpers.make_facts

GUEST = {"name": "g1", "vcpus": 2, "memory_mb": 1024}
AFFINITY = "/etc/systemd/system.conf.d/90-kvmops-cpuaffinity.conf"
IRQBALANCE = "/etc/default/irqbalance"
TMPFILES = "/etc/tmpfiles.d/kvmops-cpu.conf"
# systemd.resource-control(5): a drop-in per unit; init.scope is a scope, the others slices
ALLOWED = {"/etc/systemd/system/init.scope.d/90-kvmops-allowedcpus.conf": "Scope",
           "/etc/systemd/system/system.slice.d/90-kvmops-allowedcpus.conf": "Slice",
           "/etc/systemd/system/user.slice.d/90-kvmops-allowedcpus.conf": "Slice"}
NO_FILES = dict(dict.fromkeys(ALLOWED), **{AFFINITY: None, TMPFILES: None})


def facts(libvirt=True, networks=(), br_netfilter=None, nwfilter_users=(), **kwargs):
    result = make_facts(**kwargs)
    result["libvirt"] = {"present": libvirt, "networks": list(networks), "nwfilter_users": list(nwfilter_users)}
    if br_netfilter is not None:
        result["kernel"]["br_netfilter_loaded"] = br_netfilter
    return result


PARTITIONED = {"housekeeping_cores_per_node": 1}


def section(name, options=None, policy=None, host=None, **allow):
    """The section for ``policy``; the default policy asks for CPU partitioning (one
    housekeeping core per node), ``{}`` is no policy at all."""
    result = plan(host or facts(), PARTITIONED if policy is None else policy, sections={name: options or {}})
    return result[name]


def body(text):
    """The lines of a rendered file that are not comments."""
    return [line for line in text.splitlines() if not line.startswith("#")]


# --------------------------------------------------------------------------- numa_pinning

@pytest.mark.parametrize("mode, guests, expected", [
    ("auto", [GUEST], {"kernel.numa_balancing": "0"}),
    ("auto", [], {}),
    ("disabled", [], {"kernel.numa_balancing": "0"}),
    ("default", [GUEST], {}),
])
def test_numa_balancing_off_only_when_guests_are_pinned_or_asked(mode, guests, expected):
    result = section("numa_pinning", {"numa_balancing": mode}, {"guests": guests, "hugepage_size": "2M"})
    assert result["sysctl"]["values"] == expected
    assert result["sysctl"]["path"] == "/etc/sysctl.d/90-kvmops-numa.conf"
    if expected:
        assert "bound to NUMA nodes" in result["sysctl"]["sources"]["kernel.numa_balancing"]


def test_cpuaffinity_dropin_lists_housekeeping_cpus():
    result = section("numa_pinning", policy={"housekeeping_cpus": "0-1,8-9", "allow_split_cores": True})
    assert body(result["files"][AFFINITY]) == ["[Manager]", "CPUAffinity=0-1,8-9"]
    assert "systemd-system.conf(5)" in result["files"][AFFINITY]


def test_allowed_cpus_dropins_hold_the_housekeeping_cpus_of_the_host_units():
    result = section("numa_pinning", policy={"housekeeping_cpus": "0-1,8-9", "allow_split_cores": True})
    for path, kind in ALLOWED.items():
        assert body(result["files"][path]) == ["[%s]" % kind, "AllowedCPUs=0-1,8-9"], path
        assert "systemd.resource-control(5)" in result["files"][path]
    # the guests' slice is never restricted: libvirt pins them on the isolated CPUs
    assert not [path for path in result["files"] if "machine.slice" in path]


def test_cpuaffinity_dropin_absent_when_off_or_nothing_isolated():
    assert section("numa_pinning", {"systemd_affinity": False})["files"] == NO_FILES
    one_core = facts(sockets=1, cores=1, smt=1)
    assert section("numa_pinning", host=one_core)["files"] == NO_FILES


def test_no_policy_takes_back_everything_and_releases_only_our_irqbalance_lines():
    result = section("numa_pinning", policy={})
    assert result["kernel_args"] == [] and result["boot_sysfs"] == {} and result["sysfs"] == {}
    assert result["files"] == NO_FILES
    # false: remove the line only where kvmops' marker says it wrote it
    assert result["lines"] == {IRQBALANCE: {"IRQBALANCE_BANNED_CPULIST": False, "IRQBALANCE_BANNED_CPUS": False}}
    assert result["sysctl"]["values"] == {}


def test_isolation_companions_with_isolcpus():
    # 2 sockets x 4 cores x 2 threads: housekeeping 0,4,8,12 = bits 0x1111
    result = section("numa_pinning", policy={"isolation": "isolcpus"})
    assert result["kernel_args"][-3:-1] == [["nosoftlockup", None], ["skew_tick", "1"]]
    assert result["sysctl"]["values"] == {"vm.stat_interval": "10"}
    assert "vm.rst" in result["sysctl"]["sources"]["vm.stat_interval"]
    assert result["sysfs"] == {"/sys/devices/virtual/workqueue/cpumask": "1111",
                               "/sys/bus/workqueue/devices/writeback/cpumask": "1111"}
    assert body(result["files"][TMPFILES]) == [
        "w /sys/bus/workqueue/devices/writeback/cpumask - - - - 1111",
        "w /sys/devices/virtual/workqueue/cpumask - - - - 1111"]


@pytest.mark.parametrize("policy, options", [
    (PARTITIONED, {}),  # partitioned, but no isolation mode
    ({"isolation": "isolcpus"}, {"isolation_companions": False}),
])
def test_no_isolation_companions_without_isolation_or_when_off(policy, options):
    result = section("numa_pinning", options, policy)
    assert [name for name, _value in result["kernel_args"]] in (["irqaffinity"], ["isolcpus", "irqaffinity"])
    assert result["sysfs"] == {} and result["files"][TMPFILES] is None
    assert "vm.stat_interval" not in result["sysctl"]["values"]


def test_running_guests_outside_the_plan_are_warned_about_while_cpus_are_isolated():
    host = facts()
    host["qemu_processes"] = [{"pid": 10, "name": "g1"}, {"pid": 11, "name": "stray"}]
    warned = plan(host, {"isolation": "isolcpus", "guests": [GUEST], "hugepage_size": "2M"},
                  sections={"numa_pinning": {}})["warnings"]
    assert [w for w in warned if "not in the plan" in w] == [
        "numa_pinning: running guest(s) stray are not in the plan: libvirt runs unpinned QEMU on every "
        "CPU, the isolated ones included; add them to kvmops_plan_guests or pin them"]
    quiet = plan(host, {}, sections={"numa_pinning": {}})["warnings"]
    assert not [w for w in quiet if "not in the plan" in w]


def test_irqbalance_bans_the_isolated_cpus_and_drops_the_old_mask():
    result = section("numa_pinning")
    assert result["lines"] == {IRQBALANCE: {
        "IRQBALANCE_BANNED_CPULIST": "IRQBALANCE_BANNED_CPULIST=1-3,5-7,9-11,13-15",
        "IRQBALANCE_BANNED_CPUS": None}}
    assert section("numa_pinning", {"irqbalance": False})["lines"] == {}


def test_isolation_kernel_arguments_and_the_kernel_state_they_give():
    result = section("numa_pinning", policy={"isolation": "nohz_full"})
    assert [name for name, _value in result["kernel_args"]] == ["isolcpus", "nohz_full", "rcu_nocbs", "nosoftlockup",
                                                                "skew_tick", "irqaffinity"]
    assert result["boot_sysfs"] == {"/sys/devices/system/cpu/isolated": "1-3,5-7,9-11,13-15",
                                    "/sys/devices/system/cpu/nohz_full": "1-3,5-7,9-11,13-15"}
    off = section("numa_pinning", {"kernel_args": False}, {"isolation": "nohz_full"})
    assert off["kernel_args"] == [] and off["boot_sysfs"] == {}


def test_unplaced_guests_refused_naming_the_variables_unless_allowed():
    big = {"guests": [{"name": "big", "vcpus": 12, "memory_mb": 1024, "numa_node": 0}], "guest_spanning": False}
    with pytest.raises(PlanError, match=r"^guests: .*big.*numa_pinning_allow_unplaced"):
        section("numa_pinning", {}, big)
    assert section("numa_pinning", {"allow_unplaced": True}, big)["guests"] == []


def test_domains_pinned_only_where_libvirt_is_and_asked():
    policy = {"guests": [GUEST], "hugepage_size": "2M"}
    assert [g["name"] for g in section("numa_pinning", {}, policy)["guests"]] == ["g1"]
    assert section("numa_pinning", {"domains": False}, policy)["guests"] == []
    assert section("numa_pinning", {}, policy, host=facts(libvirt=False))["guests"] == []


@pytest.mark.parametrize("name, option", [("numa_pinning", "systemd_affinity_path"),
                                          ("hugepages", "qemu_conf"), ("sysctl_net", "modules_load_dir"),
                                          ("nvme_queues", "udev_rule_path"), ("sriov_vhost", "link_dir"),
                                          ("seccomp_sandbox", "sysctl_path")])
def test_relative_paths_refused_naming_the_role_variable(name, option):
    """config_files and sysctl_dropin refuse them too, but only when the role reaches them:
    after the kernel arguments (numa_pinning) were written."""
    with pytest.raises(PlanError, match=r"^%s_%s: must be an absolute path, got 'etc/x'$" % (name, option)):
        section(name, {option: "etc/x"})


def domain(name, vcpus, memory_kib, persistent=True, state="shutoff"):
    """A kvm_host.domains entry as facts/domains.py gives it."""
    return {"name": name, "uuid": None, "persistent": persistent, "state": state, "pid": None,
            "vcpus": vcpus, "memory_kib": memory_kib, "current_memory_kib": memory_kib,
            "hugepages": False, "numatune": None,
            "source": ("/etc/libvirt/qemu/%s.xml" if persistent else "/run/libvirt/qemu/%s.xml") % name}


def with_domains(*entries, **kwargs):
    host = facts(**kwargs)
    host["domains"] = {"config_dir": True, "defined": list(entries)}
    return host


TWO_GUESTS = {"guests": [GUEST, {"name": "g2", "vcpus": 2, "memory_mb": 64}], "hugepage_size": "2M"}


def test_domains_that_fit_the_plan_are_pinned():
    host = with_domains(domain("g1", 2, 1048576), domain("g2", 2, 65536, state="running"))
    assert [g["name"] for g in section("numa_pinning", {}, TWO_GUESTS, host=host)["guests"]] == ["g1", "g2"]


@pytest.mark.parametrize("entries, pattern", [
    # the lab with 3 NUMA nodes (issue 21): g2 defined with 128 MiB, planned with 64
    ([domain("g1", 2, 1048576), domain("g2", 2, 131072)],
     r"^guests\[g2\]\.memory_mb: domain g2 has 131072 KiB of memory \(128 MiB; <memory> of "
     r"/etc/libvirt/qemu/g2\.xml\) but the plan places 64 MiB; must equal the domain's <memory> in MiB: "
     r"set memory_mb to 128 "),
    ([domain("g1", 4, 1048576), domain("g2", 2, 65536)],
     r"^guests\[g1\]\.vcpus: domain g1 has 4 vCPUs \(<vcpu> of /etc/libvirt/qemu/g1\.xml\) but the plan "
     r"gives 2; must equal the domain's vCPU count: set vcpus to 4 "),
    ([domain("g1", 2, 1048576)],
     r"^guests\[g2\]: no libvirt domain g2 on the host \(no /etc/libvirt/qemu/g2\.xml; defined: g1\); "
     r"the name must be a defined domain's: .*numa_pinning_domains to false"),
    ([domain("g1", 2, 1048576), domain("g2", 2, 65536, persistent=False, state="running")],
     r"^guests\[g2\]: libvirt domain g2 is transient \(running, no definition in /etc/libvirt/qemu\): "
     r"it must be a defined domain"),
    ([domain("g1", 2, 1048000), domain("g2", 2, 65536)],
     r"^guests\[g1\]\.memory_mb: domain g1 has 1048000 KiB of memory \(1048000 KiB, not a whole MiB; "),
])
def test_domains_that_disagree_with_the_plan_are_refused_at_plan_time(entries, pattern):
    """Before any role writes (issue 21: numa_pinning wrote the kernel arguments, then
    libvirt_domain_tuning refused): the numa_pinning section refuses."""
    with pytest.raises(PlanError, match=pattern):
        section("numa_pinning", {}, TWO_GUESTS, host=with_domains(*entries))


def test_domain_checks_follow_numa_pinning_domains_and_libvirt():
    wrong = with_domains(domain("g1", 8, 1048576))
    # not pinning domains: nothing to check
    assert section("numa_pinning", {"domains": False}, TWO_GUESTS, host=wrong)["guests"] == []
    no_libvirt = with_domains(domain("g1", 8, 1048576), libvirt=False)
    assert section("numa_pinning", {}, TWO_GUESTS, host=no_libvirt)["guests"] == []
    # other sections never look at the domains
    assert section("hugepages", {}, TWO_GUESTS, host=wrong)["runtime"]["pages"]


def test_missing_domain_without_libvirt_config_dir_is_a_warning():
    """libvirt present (its binaries) but no /etc/libvirt/qemu yet: nothing can be defined,
    the guests are pinned by a later run."""
    host = facts()
    host["domains"] = {"config_dir": False, "defined": []}
    result = plan(host, TWO_GUESTS, sections={"numa_pinning": {}})
    assert [g["name"] for g in result["numa_pinning"]["guests"]] == ["g1", "g2"]
    assert ("numa_pinning: guest g1 has no libvirt domain yet (no /etc/libvirt/qemu: libvirt's QEMU driver "
            "is not installed); it is pinned by a run after it is defined") in result["warnings"]


def test_facts_without_domains_leave_the_check_to_libvirt_domain_tuning():
    assert [g["name"] for g in section("numa_pinning", {}, TWO_GUESTS)["guests"]] == ["g1", "g2"]


def test_guest_memory_not_whole_huge_pages_refused_when_domains_are_pinned():
    odd = {"guests": [{"name": "g1", "vcpus": 2, "memory_mb": 1025}], "hugepage_size": "2M"}
    with pytest.raises(PlanError, match=r"^guests\[g1\]\.memory_mb: 1025 MiB is not a whole number of 2048 KiB "
                                        r"huge pages, .*use a multiple of 2 MiB, or hugepages: false"):
        section("numa_pinning", {}, odd)
    assert section("numa_pinning", {"domains": False}, odd)["guests"] == []


# --------------------------------------------------------------------------- hugepages

def test_transparent_hugepage_follows_the_pool_arguments():
    result = section("hugepages", {}, {"hugepage_size": "2M", "hugepages_per_node": {"0": 16, "1": 80}})
    assert result["kernel_args"] == [["default_hugepagesz", "2M"], ["hugepagesz", "2M"],
                                     ["hugepages", "0:16,1:80"], ["transparent_hugepage", "madvise"]]
    assert section("hugepages", {"thp": "keep"})["kernel_args"] == []
    assert section("hugepages", {"thp": "never", "kernel_args": False})["kernel_args"] == []


def test_thp_now_and_ksm_auto_stops_merging_only_for_pinned_guests():
    assert section("hugepages")["sysfs"] == {"/sys/kernel/mm/transparent_hugepage/enabled": "madvise"}
    pinned = section("hugepages", {}, {"guests": [GUEST], "hugepage_size": "2M"})
    assert pinned["sysfs"]["/sys/kernel/mm/ksm/run"] == "0"
    assert section("hugepages", {"ksm": "unmerge", "thp": "keep"})["sysfs"] == {"/sys/kernel/mm/ksm/run": "2"}


def test_tmpfiles_dropin_holds_only_the_attributes_set():
    result = section("hugepages", {"ksm": "run", "zswap_compressor": "zstd"})
    text = result["files"]["/etc/tmpfiles.d/kvmops-memory.conf"]
    assert body(text) == ["w /sys/kernel/mm/ksm/run - - - - 1",
                          "w /sys/module/zswap/parameters/compressor - - - - zstd"]
    assert section("hugepages")["files"] == {"/etc/tmpfiles.d/kvmops-memory.conf": None}


def test_swappiness_dropin_only_when_set():
    result = section("hugepages", {"swappiness": 10})
    assert result["sysctl"]["values"] == {"vm.swappiness": "10"}
    assert section("hugepages")["sysctl"]["values"] == {}


def test_mounts_one_per_planned_size_and_libvirt_told_where():
    result = section("hugepages", {}, {"hugepage_size": "2M", "hugepages_per_node": {"0": 16, "1": 80}})
    assert [(m["path"], m["opts"], m["pages"], m["fstype"]) for m in result["mounts"]] == [
        ("/dev/hugepages2M", "pagesize=2M", 96, "hugetlbfs")]
    assert result["lines"] == {"/etc/libvirt/qemu.conf": {"hugetlbfs_mount": 'hugetlbfs_mount = ["/dev/hugepages2M"]'}}
    no_libvirt = section("hugepages", {}, {"hugepage_size": "2M", "hugepages_per_node": {"0": 16}},
                         host=facts(libvirt=False))
    assert no_libvirt["lines"] == {} and len(no_libvirt["mounts"]) == 1
    assert section("hugepages")["mounts"] == []
    assert section("hugepages", {"mounts": False}, {"hugepages_per_node": {"0": 1}})["mounts"] == []


def test_fstab_entries_are_the_mounts_as_the_fstab_step_takes_them():
    """section_apply's fstab step writes /etc/fstab from these (issue 18); the audit keeps
    reading the mounts."""
    result = section("hugepages", {}, {"hugepage_size": "2M", "hugepages_per_node": {"0": 16, "1": 80}})
    assert result["fstab"] == [{"path": "/dev/hugepages2M", "src": "hugetlbfs", "fstype": "hugetlbfs",
                                "opts": "pagesize=2M"}]
    shown = [dict((key, m[key]) for key in ("path", "src", "fstype", "opts")) for m in result["mounts"]]
    assert shown == result["fstab"]
    assert section("hugepages")["fstab"] == []
    assert section("hugepages", {"mounts": False}, {"hugepages_per_node": {"0": 1}})["fstab"] == []


def test_pool_per_node_is_the_kernel_state_audited_and_allocated():
    result = section("hugepages", {}, {"hugepage_size": "2M", "hugepages_per_node": {"0": 16, "1": 80}})
    assert result["boot_sysfs"] == {
        "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages": "16",
        "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages": "80"}
    assert result["runtime"]["pages"] == {"2048": {"0": 16, "1": 80}}
    off = section("hugepages", {"runtime_allocation": False}, {"hugepages_per_node": {"0": 1}})
    assert off["runtime"]["pages"] == {}


KSM = "/sys/kernel/mm/ksm/run"
PINNED = {"guests": [GUEST], "hugepage_size": "2M"}
INSTALLED = {"present": True, "enabled": True, "masked": False, "running": True}
ABSENT = {"present": False, "enabled": False, "masked": False, "running": False}


def with_daemons(units=None, **memory):
    """Facts with kvm_host.daemons (every unit absent unless given) and memory values."""
    result = facts()
    all_units = dict((unit, ABSENT) for unit in ("ksmtuned.service", "ksm.service", "libvirtd.service",
                                                 "libvirtd.socket", "virtqemud.service", "virtqemud.socket"))
    all_units.update(units or {})
    result["daemons"] = {"units": all_units, "libvirt": None, "libvirt_running": False}
    result["memory"].update(memory)
    return result


def test_ksm_auto_unmerges_pinned_guests_pages_when_the_copies_fit():
    # 1000 shared pages = 4000 kB to copy again, well under half of 8 GiB available
    host = with_daemons(ksm_run=1, ksm_pages_sharing=1000, available_kb=8 * 1024 * 1024)
    result = plan(host, PINNED, sections={"hugepages": {}})
    assert result["hugepages"]["sysfs"][KSM] == "2"
    assert body(result["hugepages"]["files"]["/etc/tmpfiles.d/kvmops-memory.conf"]) == [
        "w /sys/kernel/mm/ksm/run - - - - 2"]
    assert not any("KSM" in warning for warning in result["warnings"])


def test_ksm_auto_only_stops_when_unmerging_would_take_half_the_available_memory():
    # 3 GiB merged (786432 pages of 4 kB) against 4 GiB available: stop, keep the pages, warn
    host = with_daemons(ksm_run=1, ksm_pages_sharing=786432, available_kb=4 * 1024 * 1024)
    result = plan(host, PINNED, sections={"hugepages": {}})
    assert result["hugepages"]["sysfs"][KSM] == "0"
    assert any("hugepages_ksm=auto" in w and "3072 MiB" in w and "hugepages_ksm: unmerge" in w
               for w in result["warnings"])
    # asked for explicitly, unmerge is done whatever it costs
    assert plan(host, PINNED, sections={"hugepages": {"ksm": "unmerge"}})["hugepages"]["sysfs"][KSM] == "2"


def test_ksm_off_stops_and_disables_the_units_that_turn_it_back_on():
    host = with_daemons({"ksmtuned.service": INSTALLED, "ksm.service": dict(INSTALLED, running=None)},
                        ksm_pages_sharing=0, available_kb=1024 * 1024)
    result = plan(host, PINNED, sections={"hugepages": {}})["hugepages"]
    assert [(s["unit"], s["state"], s["enabled"]) for s in result["services"]] == [
        ("ksm.service", "stopped", False), ("ksmtuned.service", "stopped", False)]
    assert "run=1" in result["services"][1]["reason"] and "run=2" in result["services"][1]["reason"]
    stop = plan(host, {}, sections={"hugepages": {"ksm": "stop"}})["hugepages"]
    assert [s["unit"] for s in stop["services"]] == ["ksm.service", "ksmtuned.service"]


@pytest.mark.parametrize("options, policy", [
    ({"ksm": "run"}, PINNED),      # KSM on: ksmtuned may run
    ({"ksm": "keep"}, PINNED),     # KSM left alone
    ({}, {}),                      # auto without pinned guests: left alone
])
def test_ksm_units_left_alone_unless_the_plan_turns_ksm_off(options, policy):
    host = with_daemons({"ksmtuned.service": INSTALLED})
    assert plan(host, policy, sections={"hugepages": options})["hugepages"]["services"] == []


def test_ksm_units_not_installed_or_masked_are_not_touched():
    masked = {"present": False, "enabled": False, "masked": True, "running": False}
    host = with_daemons({"ksmtuned.service": masked})
    assert plan(host, PINNED, sections={"hugepages": {}})["hugepages"]["services"] == []
    no_facts = plan(facts(), PINNED, sections={"hugepages": {"ksm": "stop"}})
    assert no_facts["hugepages"]["services"] == []
    assert any(w.startswith("hugepages_ksm: the facts do not show the daemons") for w in no_facts["warnings"])


SPARSE = {"hugepage_size": "2M", "hugepages_per_node": {"0": 16, "2": 80}}


@pytest.mark.parametrize("release, value", [
    ("5.17.0-1-amd64", "96"),        # 5.16-5.18: node 2 >= 2 online nodes is invalid
    ("5.19.0", "0:16,2:80"),         # fixed in 5.19 (node_online)
    ("6.1.0-18-amd64", "0:16,2:80"),
])
def test_hugepages_node_form_only_where_the_kernel_takes_sparse_node_ids(release, value):
    host = facts(node_ids=[0, 2], release=release)
    result = plan(host, SPARSE, sections={"hugepages": {"thp": "keep"}})
    assert result["hugepages"]["kernel_args"] == [["default_hugepagesz", "2M"], ["hugepagesz", "2M"], ["hugepages", value]]
    # the per-node pool is kept: allocated at runtime and audited per node
    assert result["hugepages"]["runtime"]["pages"] == {"2048": {"0": 16, "2": 80}}
    assert result["hugepages"]["boot_sysfs"]["/sys/devices/system/node/node2/hugepages/hugepages-2048kB/nr_hugepages"] == "80"
    warned = [w for w in result["warnings"] if "rejects hugepages=<node>:<count> for node 2" in w]
    assert len(warned) == (1 if value == "96" else 0)


def test_old_kernel_with_sparse_ids_keeps_the_node_form_for_low_ids():
    host = facts(node_ids=[0, 2], release="5.17.0")
    result = plan(host, {"hugepage_size": "2M", "hugepages_per_node": {"0": 16, "2": 0}},
                  sections={"hugepages": {"thp": "keep"}})
    assert result["hugepages"]["kernel_args"][-1] == ["hugepages", "0:16"]


def test_total_form_without_runtime_allocation_is_warned():
    host = facts(node_ids=[0, 2], release="5.17.0")
    result = plan(host, SPARSE, sections={"hugepages": {"runtime_allocation": False}})
    assert result["hugepages"]["runtime"]["pages"] == {}
    assert any(w.startswith("hugepages_runtime_allocation is false") for w in result["warnings"])


@pytest.mark.parametrize("options, variable", [
    ({"swappiness": 201}, "hugepages_swappiness"),
    ({"zswap_max_pool_percent": 0}, "hugepages_zswap_max_pool_percent"),
    ({"compaction_retries": -1}, "hugepages_compaction_retries"),
    ({"mount_prefix": "/dev/huge pages"}, "hugepages_mount_prefix"),
    ({"mount_prefix": "/dev/hugepages/"}, "hugepages_mount_prefix"),
    ({"thp": "sometimes"}, "hugepages_thp"),
    ({"colour": "blue"}, "hugepages_colour"),
])
def test_bad_options_name_the_role_variable(options, variable):
    with pytest.raises(PlanError, match="^%s: " % variable):
        section("hugepages", options)


# --------------------------------------------------------------------------- sysctl_net

def test_ip_forward_auto_from_the_libvirt_networks():
    nat = facts(networks=[{"name": "default", "forward_mode": "nat"}])
    result = section("sysctl_net", host=nat)
    assert list(result["sysctl"]["values"])[0] == "net.ipv4.ip_forward"
    assert result["sysctl"]["values"]["net.ipv4.ip_forward"] == "1"
    assert "default (nat)" in result["sysctl"]["sources"]["net.ipv4.ip_forward"]
    bridged = facts(networks=[{"name": "br", "forward_mode": "bridge"}])
    result = section("sysctl_net", host=bridged)
    assert "net.ipv4.ip_forward" not in result["sysctl"]["values"]  # auto never writes 0
    assert result["ip_forward"] == {
        "value": None,
        "reason": "sysctl_net_ip_forward=auto: no libvirt network with forward mode nat/route/open, "
                  "so the key is left out (never written 0)"}
    forced_off = section("sysctl_net", {"ip_forward": False}, host=bridged)
    assert list(forced_off["sysctl"]["values"].items())[0] == ("net.ipv4.ip_forward", "0")


def test_baseline_overrides_and_removals():
    result = section("sysctl_net", {"overrides": {"net.core.somaxconn": 8192},
                                    "removals": ["vm.max_map_count"], "ip_forward": True})
    values = result["sysctl"]["values"]
    assert values["net.core.somaxconn"] == "8192"
    assert "vm.max_map_count" not in values
    assert values["net.ipv4.tcp_rmem"] == "4096 131072 33554432"
    assert len(values) == 16  # the baseline's 19 keys - 3 bridge (no br_netfilter) - 1 removed + ip_forward
    assert set(result["sysctl"]["sources"]) == set(values)  # every key says why


def test_a_baseline_replaces_the_collections():
    result = section("sysctl_net", {"baseline": {"net.core.somaxconn": 1024}, "ip_forward": False})
    assert result["sysctl"]["values"] == {"net.ipv4.ip_forward": "0", "net.core.somaxconn": "1024"}


def test_ipv6_forwarding_auto_only_for_a_routed_network_with_ipv6_never_0():
    v4 = facts(networks=[{"name": "default", "forward_mode": "nat", "ipv6": False}])
    assert "net.ipv6.conf.all.forwarding" not in section("sysctl_net", host=v4)["sysctl"]["values"]
    assert section("sysctl_net", host=v4)["ipv6_forward"]["value"] is None
    v6 = facts(networks=[{"name": "default", "forward_mode": "nat", "ipv6": False},
                         {"name": "lab6", "forward_mode": "route", "ipv6": True}])
    result = section("sysctl_net", host=v6)
    assert list(result["sysctl"]["values"].items())[:2] == [("net.ipv4.ip_forward", "1"),
                                                            ("net.ipv6.conf.all.forwarding", "1")]
    assert result["ipv6_forward"]["reason"] == \
        "sysctl_net_ipv6_forward=auto: libvirt network(s) route guest IPv6 traffic: lab6 (route)"
    assert result["sysctl"]["origins"]["net.ipv6.conf.all.forwarding"] == "sysctl_net_ipv6_forward"
    off = section("sysctl_net", {"ipv6_forward": "false"}, host=v6)
    assert off["sysctl"]["values"]["net.ipv6.conf.all.forwarding"] == "0"
    with pytest.raises(PlanError, match="^sysctl_net_ipv6_forward: must be auto, true or false, got 'maybe'"):
        section("sysctl_net", {"ipv6_forward": "maybe"})
    with pytest.raises(PlanError, match="^sysctl_net_overrides: sets net.ipv6.conf.all.forwarding; "):
        section("sysctl_net", {"overrides": {"net.ipv6.conf.all.forwarding": 0}})


BRIDGE_NF = {"net.bridge.bridge-nf-call-iptables": "0", "net.bridge.bridge-nf-call-ip6tables": "0",
             "net.bridge.bridge-nf-call-arptables": "0"}
WEB1 = {"kind": "domain", "name": "web1", "filter": "clean-traffic"}


def bridge_keys(result):
    return dict((key, value) for key, value in result["sysctl"]["values"].items() if key.startswith("net.bridge."))


def test_bridge_nf_keys_only_while_br_netfilter_is_loaded():
    assert bridge_keys(section("sysctl_net", host=facts(br_netfilter=False))) == {}
    assert section("sysctl_net", host=facts(br_netfilter=False))["bridge_nf"]["written"] is False
    assert bridge_keys(section("sysctl_net", host=facts())) == {}  # unknown: left out too
    loaded = section("sysctl_net", host=facts(br_netfilter=True))
    assert bridge_keys(loaded) == BRIDGE_NF and loaded["bridge_nf"]["written"] is True
    # the modules-load.d file of earlier versions (br_netfilter at every boot) must go
    assert loaded["files"] == {"/etc/modules-load.d/kvmops-br_netfilter.conf": None}


def test_bridge_nf_off_refused_while_a_domain_uses_an_nwfilter_unless_allowed():
    host = facts(br_netfilter=True, nwfilter_users=[WEB1])
    with pytest.raises(PlanError, match=r"^sysctl_net_allow_nwfilter_bypass: net.bridge.bridge-nf-call-iptables "
                                        r"and net.bridge.bridge-nf-call-ip6tables = 0 would silence the iptables "
                                        r"rules of libvirt nwfilters used by domain web1 \(clean-traffic\)\. "):
        section("sysctl_net", host=host)
    allowed = plan(host, {}, sections={"sysctl_net": {"allow_nwfilter_bypass": True}})
    assert bridge_keys(allowed["sysctl_net"]) == BRIDGE_NF
    assert ("sysctl_net_allow_nwfilter_bypass: net.bridge.bridge-nf-call-iptables and "
            "net.bridge.bridge-nf-call-ip6tables = 0 would silence the iptables rules of libvirt nwfilters used "
            "by domain web1 (clean-traffic); written because it is true") in allowed["warnings"]
    kept_on = section("sysctl_net", {"overrides": {"net.bridge.bridge-nf-call-iptables": 1,
                                                   "net.bridge.bridge-nf-call-ip6tables": 1}}, host=host)
    assert bridge_keys(kept_on) == {"net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1",
                                    "net.bridge.bridge-nf-call-arptables": "0"}
    # not loaded: nothing turned off, nothing to refuse
    assert bridge_keys(section("sysctl_net", host=facts(br_netfilter=False, nwfilter_users=[WEB1]))) == {}


def test_rp_filter_and_arp_filter_on_default_only():
    values = section("sysctl_net", host=facts())["sysctl"]["values"]
    assert values["net.ipv4.conf.default.rp_filter"] == "2"
    assert values["net.ipv4.conf.default.arp_filter"] == "1"
    assert "net.ipv4.conf.all.rp_filter" not in values and "net.ipv4.conf.all.arp_filter" not in values
    eth0 = section("sysctl_net", {"overrides": {"net.ipv4.conf.eth0.rp_filter": 0}}, host=facts())
    assert eth0["sysctl"]["values"]["net.ipv4.conf.eth0.rp_filter"] == "0"


def test_reasons_state_the_kernel_defaults_right():
    sources = section("sysctl_net", host=facts(br_netfilter=True))["sysctl"]["sources"]
    assert "6291456 (6 MiB)" in sources["net.ipv4.tcp_rmem"] and "6.x" not in sources["net.ipv4.tcp_rmem"]
    assert "4194304 (4 MiB)" in sources["net.ipv4.tcp_wmem"]
    assert "guest tap traffic goes through" not in sources["net.core.netdev_max_backlog"]
    assert "netif_rx" in sources["net.core.netdev_max_backlog"] and "RPS" in sources["net.core.netdev_max_backlog"]
    assert "default since Linux 5.4 (128 before)" in sources["net.core.somaxconn"]
    assert "(default 1024)" in sources["net.ipv4.neigh.default.gc_thresh3"]
    assert "(default 65530)" in sources["vm.max_map_count"]


def test_every_baseline_key_renders_its_kernel_documentation_file():
    docs = {
        "Documentation/admin-guide/sysctl/net.rst": ["net.core.somaxconn", "net.core.netdev_max_backlog",
                                                     "net.core.rmem_max", "net.core.wmem_max"],
        "Documentation/admin-guide/sysctl/vm.rst": ["vm.max_map_count"],
        "Documentation/networking/ip-sysctl.rst": [
            "net.ipv4.ip_forward", "net.ipv4.tcp_fastopen", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
            "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
            "net.bridge.bridge-nf-call-arptables", "net.ipv4.conf.default.rp_filter",
            "net.ipv4.conf.default.arp_filter", "net.ipv4.neigh.default.gc_thresh1",
            "net.ipv4.neigh.default.gc_thresh2", "net.ipv4.neigh.default.gc_thresh3",
            "net.ipv6.neigh.default.gc_thresh1", "net.ipv6.neigh.default.gc_thresh2",
            "net.ipv6.neigh.default.gc_thresh3"],
    }
    result = section("sysctl_net", {"ip_forward": True}, host=facts(br_netfilter=True))
    assert sorted(result["sysctl"]["values"]) == sorted(key for keys in docs.values() for key in keys)
    text = render(result["sysctl"]["values"], result["sysctl"]["sources"])
    for doc, keys in docs.items():
        for key in keys:
            assert "# %s: " % doc in text.split("\n%s = " % key, maxsplit=1)[0].rsplit("\n\n", 1)[-1], key


def test_ip_forward_in_overrides_is_refused_naming_the_variable():
    with pytest.raises(PlanError, match="^sysctl_net_overrides: "):
        section("sysctl_net", {"overrides": {"net.ipv4.ip_forward": 1}})


# --------------------------------------------------------------------------- iommu

@pytest.mark.parametrize("vendor, passthrough, expected", [
    ("GenuineIntel", False, [["intel_iommu", "on"]]),
    ("GenuineIntel", True, [["intel_iommu", "on"], ["iommu", "pt"]]),
    ("AuthenticAMD", False, []),
    ("AuthenticAMD", True, [["iommu", "pt"]]),
])
def test_iommu_arguments_by_vendor(vendor, passthrough, expected):
    """The policy's kvmops_plan_iommu* still work, through the sriov_vhost section; the role
    variables win over them."""
    result = section("sriov_vhost", {}, {"iommu": True, "iommu_passthrough": passthrough}, host=facts(vendor=vendor))
    assert result["kernel_args"] == expected
    assert section("sriov_vhost", {}, {}, host=facts(vendor=vendor))["kernel_args"] == []
    assert section("sriov_vhost", {"iommu": True, "iommu_passthrough": passthrough}, {},
                   host=facts(vendor=vendor))["kernel_args"] == expected
    assert section("sriov_vhost", {"iommu": False}, {"iommu": True}, host=facts(vendor=vendor))["kernel_args"] == []
    assert section("iommu", {}, {"iommu": True}, host=facts(vendor=vendor))["kernel_args"] == []


def test_iommu_take_back_only_where_the_host_holds_arguments_of_the_owner_iommu():
    """The plan role's kernel_cmdline (owner iommu) runs only where there is something to take
    back: decided from the facts, so a converged host runs no module for it."""
    host = facts()
    host["kernel"]["kernel_cmdline_owners"] = ["hugepages", "numa_pinning"]
    assert section("iommu", {}, {}, host=host)["take_back"] is False
    host["kernel"]["kernel_cmdline_owners"] = ["iommu", "numa_pinning"]
    assert section("iommu", {}, {}, host=host)["take_back"] is True
    del host["kernel"]["kernel_cmdline_owners"]  # facts of an older collection: cannot tell, so run it
    assert section("iommu", {}, {}, host=host)["take_back"] is True


def test_unknown_section_is_refused():
    with pytest.raises(PlanError, match="^sections: unknown section 'zfs'"):
        plan(facts(), {}, sections={"zfs": {}})


# --------------------------------------------------------------------------- nvme_queues

RULES = "/etc/udev/rules.d/90-kvmops-nvme.rules"
MATCH = 'ACTION=="add|change", SUBSYSTEM=="block", KERNEL=="nvme[0-9]*n[0-9]*", ENV{DEVTYPE}=="disk"'
MQ = MATCH + ', TEST=="queue/scheduler"'  # the blk-mq settings' line: only where the queue has them
Q = "/sys/block/nvme0n1/queue/"


def nvme_namespace(name="nvme0n1", schedulers=("none", "mq-deadline", "kyber"), wwid="eui.0001", **holders):
    return {"name": name, "queues": 4, "scheduler": "none", "schedulers": list(schedulers),
            "nr_requests": 1023, "read_ahead_kb": 128, "rq_affinity": 1, "nomerges": 0, "iostats": 1,
            "io_poll": False, "wwid": wwid, "partitions": [],
            "holders": dict({"mounted": [], "dm": [], "zfs": False, "free": True}, **holders)}


def nvme_facts(controllers=None, **kwargs):
    """The lab's NVMe: controller nvme0, serial kvmopslab0, one namespace; IRQs admin + 2 queues."""
    result = facts(**kwargs)
    result["nvme"] = controllers if controllers is not None else [{
        "name": "nvme0", "model": "QEMU NVMe Ctrl", "serial": "kvmopslab0", "firmware": "9.2",
        "transport": "pcie", "address": "0000:01:00.0", "numa_node": 0, "queues": 2, "io_queue_irqs": 2,
        "namespaces": [nvme_namespace()],
        "irqs": [
            {"irq": 40, "queue": 0, "name": "nvme0q0", "managed": False, "effective_affinity": [0], "smp_affinity": [0, 4]},
            {"irq": 41, "queue": 1, "name": "nvme0q1", "managed": True, "effective_affinity": [1], "smp_affinity": [1]},
            {"irq": 42, "queue": 2, "name": "nvme0q2", "managed": True, "effective_affinity": [2], "smp_affinity": [0, 2]},
        ]}]
    return result


def nvme(options=None, policy=None, host=None):
    return section("nvme_queues", options, policy, host or nvme_facts())


def test_nvme_default_rule_sets_the_scheduler_none_and_rq_affinity_2_when_partitioned():
    result = nvme()
    assert body(result["files"][RULES]) == [MQ + ', ATTR{queue/scheduler}="none", ATTR{queue/rq_affinity}="2"']
    assert result["sysfs"] == {Q + "scheduler": "none", Q + "rq_affinity": "2"}
    assert result["sysfs_steps"] == {"scheduler": {Q + "scheduler": "none"}, "queue": {Q + "rq_affinity": "2"}}
    assert result["kernel_args"] == [] and result["boot_sysfs"] == {}


def test_nvme_rq_affinity_auto_leaves_it_without_partitioning():
    result = nvme(policy={})
    assert body(result["files"][RULES]) == [MQ + ', ATTR{queue/scheduler}="none"']
    assert result["sysfs"] == {Q + "scheduler": "none"}


def test_nvme_nothing_to_set_means_no_rule_file():
    result = nvme({"scheduler": "keep", "rq_affinity": "keep"})
    assert result["files"] == {RULES: None}
    assert result["sysfs"] == {} and result["sysfs_steps"] == {"scheduler": {}, "queue": {}}


def test_nvme_every_setting_in_write_order_scheduler_first():
    result = nvme({"scheduler": "mq-deadline", "nr_requests": 256, "read_ahead_kb": 512, "rq_affinity": "1",
                   "nomerges": 2, "iostats": False, "udev_rule_path": "/etc/udev/rules.d/61-nvme.rules"})
    assert body(result["files"]["/etc/udev/rules.d/61-nvme.rules"]) == [
        MQ + ', ATTR{queue/scheduler}="mq-deadline", ATTR{queue/nr_requests}="256", ATTR{queue/rq_affinity}="1"',
        MATCH + ', ATTR{queue/read_ahead_kb}="512", ATTR{queue/nomerges}="2", ATTR{queue/iostats}="0"']
    assert result["sysfs_steps"]["scheduler"] == {Q + "scheduler": "mq-deadline"}
    assert result["sysfs_steps"]["queue"] == {Q + "nr_requests": "256", Q + "read_ahead_kb": "512",
                                              Q + "rq_affinity": "1", Q + "nomerges": "2", Q + "iostats": "0"}
    assert result["namespaces"][0]["settings"]["iostats"] == "0"


def test_nvme_rule_file_names_the_source_of_each_setting_it_sets():
    text = nvme({"read_ahead_kb": 128})["files"][RULES]
    assert "queue/read_ahead_kb (queue-sysfs.rst)" in text and "queue/scheduler (Documentation/block/queue-sysfs.rst)" in text
    assert "queue/nomerges" not in text and text.startswith("# Managed by Ansible (kvmops.hypervisor.nvme_queues)")


def test_nvme_override_by_serial_carries_every_setting_again():
    result = nvme({"read_ahead_kb": 128, "overrides": [{"serial": "kvmopslab0", "scheduler": "kyber"}]})
    assert body(result["files"][RULES]) == [
        MQ + ', ATTR{queue/scheduler}="none", ATTR{queue/rq_affinity}="2"',
        MATCH + ', ATTR{queue/read_ahead_kb}="128"',
        MQ + ', ATTRS{serial}=="kvmopslab0", ATTR{queue/scheduler}="kyber", ATTR{queue/rq_affinity}="2"',
        MATCH + ', ATTRS{serial}=="kvmopslab0", ATTR{queue/read_ahead_kb}="128"']
    assert result["sysfs"][Q + "scheduler"] == "kyber"
    assert result["namespaces"][0]["overrides"] == [0]


def test_nvme_override_by_model_and_wwid_matches_on_both():
    result = nvme({"overrides": [{"model": "QEMU NVMe Ctrl", "wwid": "eui.0001", "nomerges": 1}]})
    assert body(result["files"][RULES])[1:] == [
        MQ + ', ATTRS{model}=="QEMU NVMe Ctrl", ATTR{wwid}=="eui.0001", ATTR{queue/scheduler}="none", '
        'ATTR{queue/rq_affinity}="2"',
        MATCH + ', ATTRS{model}=="QEMU NVMe Ctrl", ATTR{wwid}=="eui.0001", ATTR{queue/nomerges}="1"']
    assert result["sysfs"][Q + "nomerges"] == "1"


def test_nvme_poll_and_write_queues_are_kernel_arguments_only_when_set():
    result = nvme({"poll_queues": 2, "write_queues": 1})
    assert result["kernel_args"] == [["nvme.poll_queues", "2"], ["nvme.write_queues", "1"]]
    assert result["boot_sysfs"] == {"/sys/module/nvme/parameters/poll_queues": "2",
                                    "/sys/module/nvme/parameters/write_queues": "1"}
    assert nvme({"poll_queues": 0})["kernel_args"] == []


@pytest.mark.parametrize("options, variable", [
    ({"poll_queues": 17}, "nvme_queues_poll_queues"),       # 16 CPUs
    ({"write_queues": -1}, "nvme_queues_write_queues"),
    ({"nr_requests": 3}, "nvme_queues_nr_requests"),
    ({"nr_requests": 4097}, "nvme_queues_nr_requests"),
    ({"read_ahead_kb": -1}, "nvme_queues_read_ahead_kb"),
    ({"scheduler": "bfq"}, "nvme_queues_scheduler"),         # not in the device's choices
    ({"rq_affinity": "3"}, "nvme_queues_rq_affinity"),
    ({"nomerges": 3}, "nvme_queues_nomerges"),
    ({"colour": "blue"}, "nvme_queues_colour"),
    ({"overrides": [{"serial": "kvmopslab0", "colour": "blue"}]}, "nvme_queues_overrides"),
    ({"overrides": [{"serial": "nosuchserial", "nomerges": 1}]}, "nvme_queues_overrides"),
    ({"overrides": [{"name": "nvme0n1", "nomerges": 1}]}, "nvme_queues_overrides"),
    ({"overrides": [{"nomerges": 1}]}, "nvme_queues_overrides"),
    ({"overrides": [{"serial": "kvmopslab0", "scheduler": "bfq"}]}, "nvme_queues_overrides"),
    ({"overrides": [{"serial": 'a"b', "nomerges": 1}]}, "nvme_queues_overrides"),
])
def test_nvme_bad_input_is_refused_naming_the_variable(options, variable):
    with pytest.raises(PlanError, match="^%s" % variable):
        nvme(options)


def test_nvme_four_and_4096_requests_are_accepted():
    assert nvme({"nr_requests": 4})["sysfs"][Q + "nr_requests"] == "4"
    assert nvme({"nr_requests": 4096})["sysfs"][Q + "nr_requests"] == "4096"


def test_nvme_without_controllers_only_the_rule_file():
    result = nvme(host=nvme_facts(controllers=[]))
    assert body(result["files"][RULES]) == [MQ + ', ATTR{queue/scheduler}="none", ATTR{queue/rq_affinity}="2"']
    assert result["sysfs"] == {} and result["irqs"] == [] and result["namespaces"] == []


def test_nvme_multipath_head_without_blk_mq_attributes_gets_only_the_common_ones():
    # Linux 6.10+: the head nvme0n1 of a native multipath namespace is bio-based and has no
    # scheduler, nr_requests or rq_affinity file (the Debian 13 lab); writing them failed
    controllers = nvme_facts()["nvme"]
    head = nvme_namespace(schedulers=())
    head.update(blk_mq=False, paths=["nvme0c0n1"], scheduler=None, nr_requests=None, rq_affinity=None)
    controllers[0]["namespaces"] = [head]
    result = nvme({"read_ahead_kb": 128, "nr_requests": 64, "overrides": [{"serial": "kvmopslab0", "nomerges": 1}]},
                  host=nvme_facts(controllers=controllers))
    assert result["sysfs"] == {Q + "read_ahead_kb": "128", Q + "nomerges": "1"}
    assert result["sysfs_steps"]["scheduler"] == {}
    ns = result["namespaces"][0]
    assert ns["settings"] == {"read_ahead_kb": "128", "nomerges": "1"}
    assert "nvme0c0n1" in ns["note"] and "scheduler, nr_requests, rq_affinity" in ns["note"]
    # the rule keeps the blk-mq line for queues that have the files (TEST), so no write fails
    assert body(result["files"][RULES]) == [
        MQ + ', ATTR{queue/scheduler}="none", ATTR{queue/nr_requests}="64", ATTR{queue/rq_affinity}="2"',
        MATCH + ', ATTR{queue/read_ahead_kb}="128"',
        MQ + ', ATTRS{serial}=="kvmopslab0", ATTR{queue/scheduler}="none", ATTR{queue/nr_requests}="64", '
        'ATTR{queue/rq_affinity}="2"',
        MATCH + ', ATTRS{serial}=="kvmopslab0", ATTR{queue/read_ahead_kb}="128", ATTR{queue/nomerges}="1"']
    # nr_requests was asked for and cannot be applied: said aloud; the defaults are not
    full = plan(nvme_facts(controllers=controllers), PARTITIONED,
                sections={"nvme_queues": {"nr_requests": 64}})
    warned = [w for w in full["warnings"] if "bio-based queue" in w]
    assert warned == ["nvme_queues: nvme0n1 is a bio-based queue (native multipath head) without nr_requests "
                      "on this kernel; nr_requests=64 not applied"]
    quiet = plan(nvme_facts(controllers=controllers), PARTITIONED, sections={"nvme_queues": {}})
    assert not [w for w in quiet["warnings"] if "bio-based queue" in w]


def test_nvme_blk_mq_unknown_plans_every_setting_as_before():
    controllers = nvme_facts()["nvme"]
    namespace = nvme_namespace()
    namespace["blk_mq"] = None  # facts of an older collection, or a kernel that shows every file
    controllers[0]["namespaces"] = [namespace]
    assert nvme(host=nvme_facts(controllers=controllers))["sysfs"] == {Q + "scheduler": "none", Q + "rq_affinity": "2"}


def test_nvme_zfs_vdev_keeps_none_and_says_why():
    controllers = nvme_facts()["nvme"]
    controllers[0]["namespaces"] = [nvme_namespace(zfs=True, free=False)]
    result = nvme(host=nvme_facts(controllers=controllers))
    assert result["namespaces"][0]["holder"] == "zfs"
    assert result["namespaces"][0]["note"].startswith("ZFS vdev: the scheduler is not ZFS's business")
    full = plan(nvme_facts(controllers=controllers), PARTITIONED,
                sections={"nvme_queues": {"scheduler": "mq-deadline"}})
    assert any(w.startswith("nvme_queues: nvme0n1 is a ZFS vdev") for w in full["warnings"])


ISOLCPUS = {"housekeeping_cores_per_node": 1, "isolation": "isolcpus"}


def test_nvme_irq_report_names_what_can_fire_on_isolated_cpus():
    # housekeeping CPUs 0,4,8,12; nvme0q1 on CPU 1 (mask only isolated), nvme0q2 on CPU 2 (mask has 0)
    report = nvme(policy=ISOLCPUS)["irqs"]
    assert [(c["name"], c["queues"], c["io_queue_irqs"]) for c in report] == [("nvme0", 2, 2)]
    assert report[0]["admin_irq"] == {"irq": 40, "effective_affinity": [0], "on_housekeeping": True}
    hits = report[0]["on_isolated"]
    assert [(h["name"], h["managed"], h["effective_affinity"]) for h in hits] == [
        ("nvme0q1", True, [1]), ("nvme0q2", True, [2])]
    assert hits[0]["reason"].startswith("managed I/O queue whose CPU mask 1 holds only isolated CPUs")
    assert hits[1]["reason"].startswith("managed I/O queue on isolated CPUs 2 although its mask 0,2")


def test_nvme_admin_irq_on_an_isolated_cpu_is_reported_as_unmanaged():
    host = nvme_facts()
    host["nvme"][0]["irqs"][0]["effective_affinity"] = [3]
    report = nvme(policy=ISOLCPUS, host=host)["irqs"][0]
    assert report["admin_irq"]["on_housekeeping"] is False
    assert report["on_isolated"][0]["reason"].startswith("admin queue (not managed)")


def test_nvme_no_irq_on_isolated_cpus_without_partitioning():
    report = nvme(policy={})["irqs"][0]
    assert report["on_isolated"] == [] and report["admin_irq"]["on_housekeeping"] is True


@pytest.mark.parametrize("release, warned", [("5.4.0", True), ("5.6.0", False), ("6.1.0", False)])
def test_nvme_warns_when_isolation_cannot_keep_managed_irqs_off(release, warned):
    result = plan(nvme_facts(release=release), ISOLCPUS, sections={"nvme_queues": {}})
    assert any("has no isolcpus=managed_irq" in w for w in result["warnings"]) is warned
