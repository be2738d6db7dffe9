# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuned section (plan/sections/tuned.py) and its audit rows: conflicts per item with
the winner at tuned's next start, hard CPU-set conflicts, the kvmops profile of own mode,
the bad inputs. kvm_host.tuned is written by hand here (not by facts/tuned.py), and so is
every expected value."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import importlib.util
import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.report import audit_report
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.planner import PlanError, plan

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("kvmops_plan_tuned_helpers", os.path.join(HERE, "test_plan.py"))
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)

VH = "/usr/lib/tuned/virtual-host/tuned.conf"
TP = "/usr/lib/tuned/throughput-performance/tuned.conf"
CP = "/usr/lib/tuned/cpu-partitioning/tuned.conf"
CP_VARS = "/etc/tuned/cpu-partitioning-variables.conf"
THP = "/sys/kernel/mm/transparent_hugepage/enabled"
IRQ = "/etc/default/irqbalance"
# one socket, 2 cores x 2 threads: core 0 = CPUs 0,2; core 1 = CPUs 1,3
POLICY = {"housekeeping_cores_per_node": 1, "isolation": "nohz_full"}
SECTIONS = {"numa_pinning": {}, "hugepages": {"swappiness": 30}, "tuned": {}}


def src(path, raw=None):
    return {"file": path, "unit": "x", "raw": raw, "resolved": True}


def virtual_host(version="2.20.0", reapply=True, exclude=()):
    """kvm_host.tuned of a Debian 12 host running virtual-host (tuned 2.20)."""
    settings = {"sysctl": {"vm.dirty_ratio": "40", "vm.dirty_background_ratio": "5", "vm.swappiness": "10",
                           "net.core.somaxconn": ">2048"},
                "vm": {}, "sysfs": {}, "bootloader": {}, "irqbalance": {}, "scheduler": {},
                "cpu": {"governor": "performance"}}
    return {
        "installed": True, "version": version, "running": True, "enabled": True, "masked": False,
        "main_conf": {"path": "/etc/tuned/tuned-main.conf", "reapply_sysctl": reapply,
                      "reapply_sysctl_exclude": list(exclude), "dynamic_tuning": True},
        "profile_dirs": ["/usr/lib/tuned", "/etc/tuned"],
        "profiles": {"virtual-host": {"chain": [TP, VH], "settings": copy.deepcopy(settings), "cmdline": None,
                                      "unresolved": [], "errors": []},
                     "balanced": {"chain": ["/usr/lib/tuned/balanced/tuned.conf"],
                                  "settings": {"sysctl": {}, "vm": {}, "sysfs": {}, "bootloader": {},
                                               "irqbalance": {}, "scheduler": {}, "cpu": {}},
                                  "cmdline": None, "unresolved": [], "errors": []}},
        "active_profile": "virtual-host", "active_profiles": ["virtual-host"], "profile_mode": "manual",
        "chain": [{"name": "throughput-performance", "file": TP}, {"name": "virtual-host", "file": VH}],
        "settings": settings,
        "sources": {"sysctl": {"vm.dirty_ratio": src(TP), "vm.dirty_background_ratio": src(VH),
                               "vm.swappiness": src(TP), "net.core.somaxconn": src(TP)},
                    "vm": {}, "sysfs": {}, "bootloader": {}, "irqbalance": {}, "scheduler": {},
                    "cpu": {"governor": src(TP)}},
        "variables": {}, "unresolved": [],
        "bootloader": {"cmdline": None, "supported": True, "bootcmdline": ""},
        "errors": [],
    }


def host(tuned=None, cmdline=None):
    facts = _helpers.make_facts(sockets=1, cores=2, smt=2, config={"CONFIG_NO_HZ_FULL": "y"})
    facts["kernel"]["cmdline"] = cmdline or ["BOOT_IMAGE=/vmlinuz", "root=/dev/vda1"]
    facts["libvirt"] = {"present": False, "networks": [], "nwfilter_users": []}
    if tuned is not None:
        facts["tuned"] = tuned
    return facts


def tuned_section(tuned, options=None, cmdline=None, sections=None):
    requested = dict(SECTIONS if sections is None else sections)
    requested["tuned"] = options or {}
    return plan(host(tuned, cmdline), POLICY, sections=requested)


def conflicts(result):
    return dict((c["item"], (c["winner"], c["tuned"], c["file"])) for c in result["tuned"]["conflicts"])


def test_virtual_host_sysctl_drop_in_wins_with_reapply_sysctl():
    result = tuned_section(virtual_host())
    # vm.swappiness: ours 30 from /etc/sysctl.d/90-kvmops-memory.conf; tuned re-applies sysctl.d after its own
    found = conflicts(result)
    assert found["vm.swappiness"] == ("kvmops", "10", TP + " [sysctl] vm.swappiness")
    rows = [c for c in result["tuned"]["conflicts"] if c["item"] == "vm.swappiness"]
    assert rows[0]["section"] == "hugepages" and rows[0]["ours"] == "30" and rows[0]["predicted"] is None
    assert "reapply_sysctl = 1" in rows[0]["reason"]
    # the default THP madvise is not set by virtual-host: no conflict for it
    assert THP not in found
    assert result["tuned"]["files"] == {} and result["tuned"]["tuned"]["activate"] is False


@pytest.mark.parametrize("reapply, exclude, why", [
    (False, (), "reapply_sysctl = 0"),
    (True, ("vm.swap*",), "reapply_sysctl_exclude (vm.swap*)"),
])
def test_tuned_wins_the_sysctl_without_reapply(reapply, exclude, why):
    result = tuned_section(virtual_host(reapply=reapply, exclude=exclude))
    row = [c for c in result["tuned"]["conflicts"] if c["item"] == "vm.swappiness"][0]
    assert row["winner"] == "tuned" and why in row["reason"]
    assert row["predicted"] == {"section": "hugepages", "area": "sysctl", "item": "vm.swappiness", "value": "10"}


def test_greater_than_modifier_leaves_a_larger_value():
    tuned = virtual_host(reapply=False)
    tuned["settings"]["sysctl"]["vm.swappiness"] = ">20"
    row = [c for c in tuned_section(tuned)["tuned"]["conflicts"] if c["item"] == "vm.swappiness"][0]
    assert row["winner"] == "kvmops" and "only when larger" in row["reason"]


def network_latency_thp(tuned):
    tuned["settings"]["vm"] = {"transparent_hugepages": "never"}
    tuned["sources"]["vm"] = {"transparent_hugepages": src("/usr/lib/tuned/network-latency/tuned.conf")}
    return tuned


def test_thp_tuned_wins_unless_the_boot_argument_runs():
    result = tuned_section(network_latency_thp(virtual_host()))
    assert conflicts(result)[THP] == ("tuned", "never", "/usr/lib/tuned/network-latency/tuned.conf [vm] "
                                      "transparent_hugepages")
    row = [c for c in result["tuned"]["conflicts"] if c["item"] == THP][0]
    assert row["predicted"] == {"section": "hugepages", "area": "sysfs", "item": THP, "value": "never"}
    running = ["BOOT_IMAGE=/vmlinuz", "root=/dev/vda1", "transparent_hugepage=madvise"]
    result = tuned_section(network_latency_thp(virtual_host()), cmdline=running)
    assert conflicts(result)[THP][0] == "kvmops"


def cpu_partitioning(tuned, isolated):
    tuned["active_profile"] = "cpu-partitioning"
    tuned["chain"] = [{"name": "cpu-partitioning", "file": CP}]
    tuned["settings"]["scheduler"] = {"isolated_cores": isolated}
    tuned["settings"]["irqbalance"] = {"banned_cpus": isolated}
    tuned["settings"]["bootloader"] = {"cmdline_cpu_part": "+nohz=on nohz_full=%s rcu_nocbs=%s" % (isolated, isolated)}
    tuned["sources"]["scheduler"] = {"isolated_cores": src(CP, "${isolated_cores}")}
    tuned["sources"]["irqbalance"] = {"banned_cpus": src(CP, "${isolated_cores}")}
    tuned["sources"]["bootloader"] = {"cmdline_cpu_part": src(CP)}
    tuned["variables"] = {"isolated_cores": {"value": isolated, "source": CP_VARS}}
    tuned["bootloader"]["cmdline"] = "nohz=on nohz_full=%s rcu_nocbs=%s" % (isolated, isolated)
    return tuned


def test_isolated_cores_other_than_the_plan_fail_naming_file_and_key():
    with pytest.raises(PlanError) as raised:
        tuned_section(cpu_partitioning(virtual_host(), "2-3"))
    message = str(raised.value)
    assert message.startswith("kvmops_tuned_mode: tuned profile cpu-partitioning")
    assert "[scheduler] isolated_cores" in message and CP in message and CP_VARS in message
    assert "isolated CPUs are 1,3" in message and "= 2-3" in message


def test_isolated_cores_equal_to_the_plan():
    result = tuned_section(cpu_partitioning(virtual_host(), "1,3"))
    found = conflicts(result)
    # our nohz_full/rcu_nocbs (numa_pinning) name the same CPUs as tuned's
    assert found["numa_pinning: nohz_full"][0] == "same"
    assert found["numa_pinning: rcu_nocbs"][0] == "same"
    # 2.20 appends IRQBALANCE_BANNED_CPUS=<mask of 1,3 = 0xa>, which would replace our line's effect
    row = [c for c in result["tuned"]["conflicts"] if c["plugin"] == "irqbalance"][0]
    assert row["winner"] == "tuned"
    assert row["predicted"] == {"section": "numa_pinning", "area": "line",
                                "item": IRQ + " IRQBALANCE_BANNED_CPUS", "value": "IRQBALANCE_BANNED_CPUS=0000000a"}
    tuned = cpu_partitioning(virtual_host(version="2.25.1"), "1,3")
    row = [c for c in tuned_section(tuned)["tuned"]["conflicts"] if c["plugin"] == "irqbalance"][0]
    assert row["predicted"]["value"] == "IRQBALANCE_BANNED_CPULIST=1,3"


def test_bootloader_argument_other_than_ours_is_a_conflict_tuned_wins():
    tuned = virtual_host()
    tuned["settings"]["bootloader"] = {"cmdline_x": "transparent_hugepage=never"}
    tuned["sources"]["bootloader"] = {"cmdline_x": src("/etc/tuned/mine/tuned.conf")}
    tuned["bootloader"]["cmdline"] = "transparent_hugepage=never"
    row = [c for c in tuned_section(tuned)["tuned"]["conflicts"] if c["plugin"] == "bootloader"][0]
    assert (row["section"], row["item"], row["winner"]) == (
        "hugepages", "hugepages: transparent_hugepage=madvise", "tuned")
    assert row["file"] == "/etc/tuned/mine/tuned.conf [bootloader] cmdline_x"


def test_no_partitioning_and_tuned_isolation_is_reported_not_fatal():
    result = plan(host(cpu_partitioning(virtual_host(), "2-3")), {}, sections={"numa_pinning": {}, "tuned": {}})
    rows = [c for c in result["tuned"]["conflicts"] if c["area"] == "cpu sets"]
    assert [r["item"] for r in rows] == ["[scheduler] isolated_cores", "boot argument nohz_full",
                                         "boot argument rcu_nocbs"]
    assert all(r["winner"] == "tuned" for r in rows)


def test_ignore_and_not_installed_are_harmless():
    result = tuned_section(network_latency_thp(virtual_host()), {"mode": "ignore"})
    assert result["tuned"]["conflicts"] == [] and result["tuned"]["files"] == {}
    result = tuned_section({"installed": False, "active_profile": None, "profiles": {}})
    assert result["tuned"]["conflicts"] == [] and result["tuned"]["files"] == {}
    # facts without the tuned part at all (an older facts cache)
    assert tuned_section(None)["tuned"]["conflicts"] == []


def test_own_profile_overrides_the_base_and_is_activated():
    tuned = network_latency_thp(virtual_host())
    tuned["profiles"]["virtual-host"]["settings"]["vm"] = {"transparent_hugepages": "never"}
    tuned["profiles"]["virtual-host"]["settings"]["irqbalance"] = {"banned_cpus": "1,3"}
    result = tuned_section(tuned, {"mode": "own"})["tuned"]
    path = "/etc/tuned/kvmops/tuned.conf"
    assert sorted(result["files"]) == ["/etc/tuned/active_profile", path, "/etc/tuned/profile_mode"]
    assert result["files"]["/etc/tuned/active_profile"] == "kvmops\n"
    assert result["files"]["/etc/tuned/profile_mode"] == "manual\n"
    body = [line for line in result["files"][path].splitlines() if line and not line.startswith("#")]
    assert body == ["[main]", "summary=kvmops.hypervisor: virtual-host with the plan's values",
                    "include=virtual-host",
                    "[sysctl]", "vm.swappiness=30",
                    "[vm]", "transparent_hugepages=madvise",
                    "[irqbalance]", "enabled=false"]
    assert result["tuned"]["activate"] is True and result["tuned"]["profile_path"] == path
    assert all(c["winner"] == "kvmops" for c in result["conflicts"])
    # once active, the same profile: nothing to activate
    tuned["active_profile"] = "kvmops"
    again = tuned_section(tuned, {"mode": "own"})["tuned"]
    assert again["files"] == result["files"] and again["tuned"]["activate"] is False


def test_own_on_tuned_2_24_writes_under_etc_tuned_profiles():
    tuned = virtual_host(version="2.25.1")
    tuned["profile_dirs"] = ["/usr/lib/tuned/profiles", "/etc/tuned/profiles"]
    result = tuned_section(tuned, {"mode": "own"})["tuned"]
    assert "/etc/tuned/profiles/kvmops/tuned.conf" in result["files"]


@pytest.mark.parametrize("tuned, options, message", [
    ({"installed": False, "profiles": {}}, {"mode": "own"},
     "kvmops_tuned_mode: own writes and activates a tuned profile, but tuned is not installed"),
    (None, {"mode": "own", "base_profile": "virtual-hots"},
     "kvmops_tuned_base_profile: 'virtual-hots' is not a tuned profile on this host (profiles: balanced, virtual-host)"),
    (None, {"mode": "own", "base_profile": "kvmops"}, "kvmops_tuned_base_profile: must not be kvmops"),
    (None, {"mode": "owned"}, "kvmops_tuned_mode: value of mode must be one of: detect, own, ignore"),
])
def test_bad_input(tuned, options, message):
    with pytest.raises(PlanError) as raised:
        tuned_section(virtual_host() if tuned is None else tuned, options)
    assert str(raised.value).startswith(message), str(raised.value)


def test_built_from_sections_computed_earlier():
    earlier = plan(host(network_latency_thp(virtual_host())), POLICY, sections={"hugepages": {}})
    result = plan(host(network_latency_thp(virtual_host())), POLICY, sections={"tuned": {}},
                  existing_sections=earlier)
    assert conflicts(result)[THP][0] == "tuned"
    # asked alone with nothing earlier: no section to conflict with
    assert plan(host(network_latency_thp(virtual_host())), POLICY, sections={"tuned": {}})["tuned"]["conflicts"] == []


def test_audit_rows_and_predicted_drift():
    facts = host(network_latency_thp(virtual_host(reapply=False)))
    # the THP argument waits for the reboot (tuned's vm plugin writes THP until it runs)
    facts["kernel"]["pending_cmdline"] = facts["kernel"]["cmdline"] + ["transparent_hugepage=madvise"]
    result = plan(facts, POLICY, sections=SECTIONS)
    hugepages = result["hugepages"]
    sysctl_path = hugepages["sysctl"]["path"]
    # after a tuned restart: THP never and swappiness 10 (tuned's), the rest as planned
    observed = {"hugepages": {"sysctl": {"vm.swappiness": "10"}, "sysfs": dict(hugepages["sysfs"], **{THP: "never"}),
                              "files": dict(hugepages["files"]), "lines": {}, "boot_sysfs": {}},
                "tuned": {"files": {}}}
    assert sysctl_path.startswith("/etc/sysctl.d/")
    report = audit_report(facts, {"hugepages": hugepages, "tuned": result["tuned"]}, observed)
    by_item = dict(((r["section"], r["area"], r["item"]), r) for r in report["rows"])
    assert by_item[("hugepages", "sysfs", THP)]["status"] == "conflict"
    assert by_item[("hugepages", "sysctl", "vm.swappiness")]["status"] == "conflict"
    assert by_item[("tuned", "tuned", "hugepages sysfs %s" % THP)]["status"] == "conflict"
    assert report["summary"]["drifted"] == 0 and report["conflicts"] is True
    # a drift tuned did not predict stays drifted
    observed["hugepages"]["sysctl"]["vm.swappiness"] = "60"
    report = audit_report(facts, {"hugepages": hugepages, "tuned": result["tuned"]}, observed)
    assert [r["item"] for r in report["rows"] if r["status"] == "drifted"] == ["vm.swappiness"]
