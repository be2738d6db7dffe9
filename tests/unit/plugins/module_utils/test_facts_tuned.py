# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tuned facts (facts/tuned.py) on hand-made profile trees: include chains, a copy in /etc
replacing the packaged profile, replace=/drop=, variables files, the ${f:...} functions,
conditional units, the bootloader cmdline, tuned-main.conf. The profiles are shortened
copies of tuned 2.20's (profiles/*/tuned.conf); every expected value is written by hand."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts import tuned, tuned_expand
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import kvm_host_facts

from .facts_helpers import Tree

THROUGHPUT = """[main]
summary=Broadly applicable tuning
[variables]
thunderx_cpuinfo_regex=CPU part\\s+:\\s+(0x0?516)|(0x0?af)
[cpu]
governor=performance
energy_perf_bias=performance
min_perf_pct=100
[vm.thunderx]
type=vm
uname_regex=aarch64
cpuinfo_regex=${thunderx_cpuinfo_regex}
transparent_hugepages=never
[disk]
readahead=>4096
[sysctl]
vm.dirty_ratio = 40
vm.dirty_background_ratio = 10
vm.swappiness=10
net.core.somaxconn=>2048
"""
VIRTUAL_HOST = """[main]
summary=Optimize for running KVM guests
include=throughput-performance

[sysctl]
# Start background writeback at this percentage (system default is 10%)
vm.dirty_background_ratio = 5

[cpu]
force_latency=cstate.id_no_zero:3|70
"""
LATENCY = """[main]
summary=Optimize for deterministic performance
[cpu]
force_latency=cstate.id_no_zero:1|3
governor=performance
[sysctl]
vm.dirty_ratio=10
vm.swappiness=10
"""
NETWORK_LATENCY = """[main]
include=latency-performance
[vm]
transparent_hugepages=never
[sysctl]
net.core.busy_read=50
kernel.numa_balancing=0
[bootloader]
cmdline_network_latency=skew_tick=1
"""
CPU_PARTITIONING = """[main]
summary=Optimize for CPU partitioning
include=network-latency

[variables]
include=/etc/tuned/cpu-partitioning-variables.conf
isolated_cores_assert_check = \\\\${isolated_cores}
isolated_cores = ${isolated_cores}
assert1=${f:assertion_non_equal:isolated_cores are set:${isolated_cores}:${isolated_cores_assert_check}}
tmpdir=${f:strip:${f:exec:mktemp:-d}}
isolated_cores_expanded=${f:cpulist_unpack:${isolated_cores}}
isolated_cpumask=${f:cpulist2hex:${isolated_cores_expanded}}
not_isolated_cores_expanded=${f:cpulist_invert:${isolated_cores_expanded}}
not_isolated_cpumask=${f:cpulist2hex:${not_isolated_cores_expanded}}
no_balance_cores=${no_balance_cores}
cmd_isolcpus=${f:regex_search_ternary:${no_balance_cores}:\\s*[0-9]: isolcpus=${no_balance_cores}:}

[sysctl]
kernel.nmi_watchdog = 0
vm.stat_interval = 10

[sysfs]
/sys/devices/virtual/workqueue/cpumask = ${not_isolated_cpumask}

[irqbalance]
banned_cpus=${isolated_cores}

[scheduler]
isolated_cores=${isolated_cores}

[bootloader]
priority=10
initrd_add_dir=${tmpdir}
cmdline_cpu_part=+nohz=on${cmd_isolcpus} nohz_full=${isolated_cores} rcu_nocbs=${isolated_cores} \
tuned.non_isolcpus=${not_isolated_cpumask} intel_pstate=disable nosoftlockup
"""
MAIN_CONF = """# Global tuned configuration file.
daemon = 1
dynamic_tuning = 1
reapply_sysctl = 1
"""


def packaged(tree, names=("throughput-performance", "virtual-host", "latency-performance",
                          "network-latency", "cpu-partitioning")):
    texts = {"throughput-performance": THROUGHPUT, "virtual-host": VIRTUAL_HOST,
             "latency-performance": LATENCY, "network-latency": NETWORK_LATENCY,
             "cpu-partitioning": CPU_PARTITIONING}
    for name in names:
        tree.write("/usr/lib/tuned/%s/tuned.conf" % name, texts[name])
    tree.write("/etc/tuned/tuned-main.conf", MAIN_CONF)
    tree.write("/usr/sbin/tuned-adm", "#!/usr/bin/python3\n")
    tree.write("/lib/systemd/system/tuned.service", "[Unit]\n")
    tree.write("/usr/lib/python3/dist-packages/tuned/version.py",
               "TUNED_VERSION_MAJOR = 2\nTUNED_VERSION_MINOR = 20\nTUNED_VERSION_PATCH = 0\n")
    # 4 CPUs in one package, all online (the x86 uname: no aarch64 unit applies)
    tree.write("/sys/devices/system/cpu/online", "0-3")
    tree.write("/sys/devices/system/cpu/present", "0-3")
    for cpu in range(4):
        tree.write("/sys/devices/system/cpu/cpu%d/topology/physical_package_id" % cpu, "0")
    tree.write("/proc/sys/kernel/arch", "x86_64")
    tree.write("/proc/sys/kernel/ostype", "Linux")
    tree.write("/proc/cpuinfo", "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\n")


def gather(tmp_path):
    return tuned.gather_tuned(Reader(str(tmp_path)))


def test_virtual_host_includes_throughput_performance_later_wins(tmp_path):
    tree = Tree(tmp_path)
    packaged(tree)
    tree.write("/etc/tuned/active_profile", "virtual-host")
    tree.write("/etc/tuned/profile_mode", "manual")
    facts = gather(tmp_path)
    assert facts["installed"] is True
    assert facts["version"] == "2.20.0"
    assert facts["running"] is False
    assert facts["active_profile"] == "virtual-host"
    assert facts["profile_mode"] == "manual"
    assert facts["profile_dirs"] == ["/usr/lib/tuned", "/etc/tuned"]
    assert facts["chain"] == [
        {"name": "throughput-performance", "file": "/usr/lib/tuned/throughput-performance/tuned.conf"},
        {"name": "virtual-host", "file": "/usr/lib/tuned/virtual-host/tuned.conf"}]
    # virtual-host's 5 wins over throughput-performance's 10; the '>' modifier is kept
    assert facts["settings"]["sysctl"] == {"vm.dirty_ratio": "40", "vm.dirty_background_ratio": "5",
                                           "vm.swappiness": "10", "net.core.somaxconn": ">2048"}
    assert facts["sources"]["sysctl"]["vm.dirty_background_ratio"]["file"] == "/usr/lib/tuned/virtual-host/tuned.conf"
    assert facts["sources"]["sysctl"]["vm.swappiness"]["file"] == \
        "/usr/lib/tuned/throughput-performance/tuned.conf"
    assert facts["settings"]["cpu"] == {"governor": "performance", "energy_perf_bias": "performance",
                                        "min_perf_pct": "100", "force_latency": "cstate.id_no_zero:3|70"}
    # [vm.thunderx] has uname_regex=aarch64: not applied on x86_64
    assert facts["settings"]["vm"] == {}
    assert facts["settings"]["bootloader"] == {}
    assert facts["bootloader"]["cmdline"] is None
    assert facts["main_conf"]["reapply_sysctl"] is True
    assert facts["main_conf"]["reapply_sysctl_exclude"] == []
    assert facts["errors"] == [] and facts["unresolved"] == []
    assert sorted(facts["profiles"]) == ["cpu-partitioning", "latency-performance", "network-latency",
                                         "throughput-performance", "virtual-host"]
    # every profile merged, for the base of a kvmops profile: network-latency includes latency-performance
    assert facts["profiles"]["network-latency"]["chain"] == ["/usr/lib/tuned/latency-performance/tuned.conf",
                                                             "/usr/lib/tuned/network-latency/tuned.conf"]
    assert facts["profiles"]["network-latency"]["settings"]["vm"] == {"transparent_hugepages": "never"}
    assert facts["profiles"]["network-latency"]["cmdline"] == "skew_tick=1"
    assert facts["profiles"]["virtual-host"]["settings"] == facts["settings"]
    # no /etc/tuned/cpu-partitioning-variables.conf: its assertion fails, as in tuned
    assert "isolated_cores are set" in facts["profiles"]["cpu-partitioning"]["errors"][0]


def test_etc_copy_replaces_the_packaged_profile_and_may_include_it(tmp_path):
    tree = Tree(tmp_path)
    packaged(tree)
    tree.write("/etc/tuned/active_profile", "virtual-host")
    # a copy in /etc that extends the packaged profile of the same name
    tree.write("/etc/tuned/virtual-host/tuned.conf",
               "[main]\ninclude=virtual-host\n[sysctl]\nvm.swappiness = 1\n[cpu]\nreplace=1\ngovernor=powersave\n")
    facts = gather(tmp_path)
    assert [p["file"] for p in facts["chain"]] == [
        "/usr/lib/tuned/throughput-performance/tuned.conf", "/usr/lib/tuned/virtual-host/tuned.conf",
        "/etc/tuned/virtual-host/tuned.conf"]
    assert facts["settings"]["sysctl"]["vm.swappiness"] == "1"
    assert facts["sources"]["sysctl"]["vm.swappiness"]["file"] == "/etc/tuned/virtual-host/tuned.conf"
    # replace=1: the earlier [cpu] options are gone
    assert facts["settings"]["cpu"] == {"governor": "powersave"}


def test_etc_copy_without_include_hides_the_packaged_one(tmp_path):
    tree = Tree(tmp_path)
    packaged(tree)
    tree.write("/etc/tuned/active_profile", "virtual-host\n")
    tree.write("/etc/tuned/virtual-host/tuned.conf", "[sysctl]\nvm.swappiness = 5\n[cpu]\ndrop=governor\n")
    facts = gather(tmp_path)
    assert facts["chain"] == [{"name": "virtual-host", "file": "/etc/tuned/virtual-host/tuned.conf"}]
    assert facts["settings"]["sysctl"] == {"vm.swappiness": "5"}
    assert facts["settings"]["cpu"] == {}


def test_cpu_partitioning_variables_functions_and_bootloader(tmp_path):
    tree = Tree(tmp_path)
    packaged(tree)
    tree.write("/etc/tuned/active_profile", "cpu-partitioning")
    tree.write("/etc/tuned/cpu-partitioning-variables.conf", "# Examples:\n# isolated_cores=2,4-7\nisolated_cores=2-3\n")
    facts = gather(tmp_path)
    assert [p["name"] for p in facts["chain"]] == ["latency-performance", "network-latency", "cpu-partitioning"]
    assert facts["errors"] == []
    assert facts["variables"]["isolated_cores"] == {
        "value": "2-3", "source": "/usr/lib/tuned/cpu-partitioning/tuned.conf"}
    assert facts["variables"]["not_isolated_cores_expanded"]["value"] == "0,1"
    assert facts["settings"]["scheduler"] == {"isolated_cores": "2-3"}
    assert facts["settings"]["irqbalance"] == {"banned_cpus": "2-3"}
    # CPUs 0,1 = mask 0x3, as 32-bit words
    assert facts["settings"]["sysfs"] == {"/sys/devices/virtual/workqueue/cpumask": "00000003"}
    assert facts["settings"]["vm"] == {"transparent_hugepages": "never"}
    assert facts["settings"]["sysctl"] == {"vm.dirty_ratio": "10", "vm.swappiness": "10",
                                           "net.core.busy_read": "50", "kernel.numa_balancing": "0",
                                           "kernel.nmi_watchdog": "0", "vm.stat_interval": "10"}
    # no_balance_cores unset: regex_search_ternary gives '' (no isolcpus=)
    assert facts["bootloader"]["cmdline"] == ("skew_tick=1 nohz=on nohz_full=2-3 rcu_nocbs=2-3 "
                                              "tuned.non_isolcpus=00000003 intel_pstate=disable nosoftlockup")
    # ${f:exec:...} is never run here
    assert facts["unresolved"] == ["bootloader.initrd_add_dir"]
    assert facts["sources"]["bootloader"]["initrd_add_dir"]["resolved"] is False


def test_calc_isolated_cores_default_of_the_variables_file(tmp_path):
    tree = Tree(tmp_path)
    packaged(tree)
    tree.write("/etc/tuned/active_profile", "cpu-partitioning")
    tree.write("/etc/tuned/cpu-partitioning-variables.conf", "isolated_cores=${f:calc_isolated_cores:1}\n")
    facts = gather(tmp_path)
    # one package of CPUs 0-3: the first is kept
    assert facts["settings"]["scheduler"] == {"isolated_cores": "1,2,3"}
    assert facts["variables"]["isolated_cores"]["value"] == "1,2,3"


def test_unset_isolated_cores_fails_the_assertion_as_tuned_does(tmp_path):
    tree = Tree(tmp_path)
    packaged(tree)
    tree.write("/etc/tuned/active_profile", "cpu-partitioning")
    tree.write("/etc/tuned/cpu-partitioning-variables.conf", "# isolated_cores=2-3\n")
    facts = gather(tmp_path)
    assert len(facts["errors"]) == 1 and "isolated_cores are set" in facts["errors"][0], facts["errors"]
    assert facts["settings"]["scheduler"] == {}


def test_missing_profile_and_conditional_include(tmp_path):
    tree = Tree(tmp_path)
    packaged(tree, names=("throughput-performance",))
    tree.write("/etc/tuned/active_profile", "mine")
    tree.write("/etc/tuned/mine/tuned.conf", "[main]\ninclude=-not-there, throughput-performance\n")
    facts = gather(tmp_path)
    assert facts["errors"] == []
    assert [p["name"] for p in facts["chain"]] == ["throughput-performance", "mine"]
    tree.write("/etc/tuned/mine/tuned.conf", "[main]\ninclude=not-there\n")
    facts = gather(tmp_path)
    assert facts["errors"] == ["cannot find profile 'not-there' in ['/etc/tuned', '/usr/lib/tuned']"]


def test_bootloader_minus_removes_words_and_new_layout(tmp_path):
    """tuned >= 2.24 reads /usr/lib/tuned/profiles and /etc/tuned/profiles."""
    tree = Tree(tmp_path)
    tree.write("/usr/lib/tuned/profiles/base/tuned.conf", "[bootloader]\ncmdline_a=+quiet skew_tick=1 splash\n")
    tree.write("/etc/tuned/profiles/mine/tuned.conf",
               "[main]\ninclude=base\n[bootloader]\ncmdline_b=-quiet\ncmdline_c=isolcpus=2-3\n")
    tree.write("/etc/tuned/active_profile", "mine")
    tree.write("/etc/tuned/tuned-main.conf", "reapply_sysctl = 0\nreapply_sysctl_exclude = vm.*, kernel.sysrq\n")
    facts = gather(tmp_path)
    assert facts["profile_dirs"] == ["/usr/lib/tuned/profiles", "/etc/tuned/profiles"]
    assert facts["bootloader"]["cmdline"] == "skew_tick=1 splash isolcpus=2-3"
    assert facts["main_conf"]["reapply_sysctl"] is False
    assert facts["main_conf"]["reapply_sysctl_exclude"] == ["vm.*", "kernel.sysrq"]


def test_not_installed(tmp_path):
    Tree(tmp_path).write("/proc/sys/kernel/arch", "x86_64")
    facts = gather(tmp_path)
    assert facts["installed"] is False
    assert facts["active_profile"] is None and facts["chain"] == []
    assert facts["settings"]["sysctl"] == {}
    assert facts["main_conf"]["reapply_sysctl"] is True  # tuned's default


def test_running_masked_enabled(tmp_path):
    tree = Tree(tmp_path)
    packaged(tree)
    tree.write("/run/tuned/tuned.pid", "812")
    tree.write("/proc/812/comm", "tuned")
    os.makedirs(tree.path("/etc/systemd/system/multi-user.target.wants"))
    os.symlink("/lib/systemd/system/tuned.service", tree.path("/etc/systemd/system/multi-user.target.wants/tuned.service"))
    facts = gather(tmp_path)
    assert (facts["running"], facts["enabled"], facts["masked"]) == (True, True, False)
    os.symlink("/dev/null", tree.path("/etc/systemd/system/tuned.service"))
    facts = gather(tmp_path)
    assert (facts["enabled"], facts["masked"]) == (False, True)


def test_functions_by_hand():
    assert tuned_expand.cpulist_unpack("0-3,^2") == [0, 1, 3]
    assert tuned_expand.cpulist_unpack("0x0000000f,,8") == [0, 1, 2, 3, 8]
    assert tuned_expand.cpulist2hex([0, 1, 33]) == "00000002,00000003"
    assert tuned_expand.hex2cpulist("00000002,00000003") == [0, 1, 33]
    assert tuned.bootloader_cmdline([("cmdline_x", "a=1 b"), ("cmdline_y", "-b"), ("cmdline_z", "+c")]) == "a=1 c"


def test_subset_in_kvm_host_facts(tmp_path):
    tree = Tree(tmp_path)
    packaged(tree)
    tree.write("/etc/tuned/active_profile", "virtual-host")
    facts = kvm_host_facts(str(tmp_path), ["tuned"])
    assert sorted(facts) == ["tuned", "warnings"]
    assert facts["tuned"]["active_profile"] == "virtual-host"
