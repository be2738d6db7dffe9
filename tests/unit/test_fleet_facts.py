"""tools/fleet/facts.py: each fleet host's hardware facts come from a different machine,
read by the collection's facts code from a sysfs tree whose shape is known here, so the
plans differ from host to host (the fleet benchmark needs that: fifty copies of one plan
would measure one host fifty times)."""

import importlib.util
import json
import os

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.planner import plan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLEET_POLICY = {"isolation": "isolcpus", "hugepages_percent": 50}  # the fleet inventory's


def load_facts_tool():
    spec = importlib.util.spec_from_file_location("fleet_facts", os.path.join(ROOT, "tools", "fleet", "facts.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FLEET = load_facts_tool()


def test_the_built_machines_read_back_as_their_shapes(tmp_path):
    chosen = FLEET.write_host_vars(len(FLEET.BUILT), str(tmp_path))
    assert sorted(chosen.values()) == sorted(name for name, _args in FLEET.BUILT)
    for number, (name, args) in enumerate(FLEET.BUILT, start=1):
        data = json.loads((tmp_path / ("kvmfleet%d.yml" % number)).read_text())
        assert data["kvmops_fleet_machine"] == name
        facts = data["kvm_host"]
        sockets, cores, threads = (int(part) for part in args["shape"].split("x"))
        assert len(facts["cpu"]["online"]) == sockets * cores * threads
        assert len(facts["cpu"]["core_groups"]) == sockets * cores
        assert {len(group) for group in facts["cpu"]["core_groups"]} == {threads}
        assert len(facts["numa"]["nodes"]) == args["nodes"]
        assert [node["memory_kb"] for node in facts["numa"]["nodes"]] == [args["memory_kb"]] * args["nodes"]
        assert set(facts) == {"cpu", "numa", "memory"}  # the rest is gathered on the host


def test_hosts_cycle_through_the_machines(tmp_path):
    count = len(FLEET.machines()) + 2
    chosen = FLEET.write_host_vars(count, str(tmp_path), "h")
    assert sorted(os.listdir(str(tmp_path))) == sorted("h%d.yml" % n for n in range(1, count + 1))
    assert chosen["h%d" % (count - 1)] == chosen["h1"] and chosen["h%d" % count] == chosen["h2"]
    assert chosen["h1"] != chosen["h2"]


def test_the_plans_differ_from_host_to_host(tmp_path):
    FLEET.write_host_vars(len(FLEET.BUILT), str(tmp_path))
    plans = []
    for number in range(1, len(FLEET.BUILT) + 1):
        facts = json.loads((tmp_path / ("kvmfleet%d.yml" % number)).read_text())["kvm_host"]
        facts["kernel"] = {"release": "6.1.0"}
        result = plan(facts, FLEET_POLICY)
        plans.append((tuple(result["isolated_cpus"]), json.dumps(result["hugepage_pool"], sort_keys=True)))
    assert len(set(plans)) == len(plans)
    assert len({isolated for isolated, _pool in plans}) == len(plans)
