"""The kvm_host_facts module shell: arguments in, ansible_facts.kvm_host out."""

import json
import os
import subprocess
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kvmops.hypervisor.plugins.modules import kvm_host_facts

UNIT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if UNIT not in sys.path:
    sys.path.insert(0, UNIT)
from sysfs_builder import Host, Tree  # noqa: E402


def run(args, check_mode=False):
    args = dict(args)
    args["_ansible_check_mode"] = check_mode
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            kvm_host_facts.main()


def result_of(capsys):
    return json.loads(capsys.readouterr().out)


def test_gathers_under_root(tmp_path, capsys):
    host = Host("2x2x2", nodes=2).build(Tree(tmp_path))
    Tree(tmp_path).nvme("nvme0", queues=4)
    run({"root": str(tmp_path)})
    result = result_of(capsys)
    assert result["changed"] is False
    assert set(result) - {"invocation"} == {"changed", "ansible_facts"}
    assert list(result["ansible_facts"]) == ["kvm_host"]
    facts = result["ansible_facts"]["kvm_host"]
    assert facts["cpu"]["core_groups"] == host.cores
    assert [node["cpus"] for node in facts["numa"]["nodes"]] == [host.node_cpus[0],
                                                                 host.node_cpus[1]]
    assert facts["nvme"][0]["queues"] == 4
    assert isinstance(facts["warnings"], list)


def test_check_mode_and_subset(tmp_path, capsys):
    Host("1x2x1").build(Tree(tmp_path))
    before = sorted(os.walk(str(tmp_path)))
    run({"root": str(tmp_path), "gather_subset": ["!all", "cpu"]}, check_mode=True)
    facts = result_of(capsys)["ansible_facts"]["kvm_host"]
    assert set(facts) == {"cpu", "warnings"}
    assert sorted(os.walk(str(tmp_path))) == before


def test_bad_subset_fails_naming_the_option(tmp_path, capsys):
    run({"root": str(tmp_path), "gather_subset": ["cpu", "bogus"]})
    result = result_of(capsys)
    assert result["failed"] is True
    assert "gather_subset" in result["msg"] and "bogus" in result["msg"]


def test_this_machine_answer_is_sane(capsys):
    """The real /sys and /proc of the machine running the tests."""
    run({})
    facts = result_of(capsys)["ansible_facts"]["kvm_host"]
    cpu = facts["cpu"]
    online = cpu["online"]
    assert online and online == sorted(online)
    assert os.cpu_count() is None or len(online) <= os.cpu_count()
    assert sorted(c for group in cpu["core_groups"] for c in group) == online
    assert sorted(c for group in cpu["package_groups"] for c in group) == online
    node_cpus = sorted(c for node in facts["numa"]["nodes"] for c in node["cpus"])
    assert node_cpus == online
    assert facts["memory"]["total_kb"] > 0
    assert facts["kernel"]["release"] == os.uname().release
    with open("/proc/cmdline") as handle:
        running = handle.read()
    assert facts["kernel"]["cmdline"]
    assert all(token.split("=")[0] in running for token in facts["kernel"]["cmdline"])
    if hasattr(os, "sched_getaffinity"):
        assert set(os.sched_getaffinity(0)) <= set(online)


@pytest.mark.skipif(not os.path.exists("/usr/bin/lstopo-no-graphics"), reason="no hwloc")
def test_this_machine_agrees_with_lstopo(capsys):
    run({"gather_subset": ["cpu", "numa"]})
    facts = result_of(capsys)["ansible_facts"]["kvm_host"]
    xml = subprocess.run(["lstopo-no-graphics", "--disallowed", "--of", "xml"],
                         check=True, capture_output=True, text=True).stdout
    pus = xml.count('type="PU"')
    cores = xml.count('type="Core"')
    packages = xml.count('type="Package"')
    assert facts["cpu"]["threads"] == pus
    assert facts["cpu"]["cores"] == cores
    assert facts["cpu"]["sockets"] == packages
