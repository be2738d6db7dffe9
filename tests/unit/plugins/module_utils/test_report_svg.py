# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The topology picture, read back with xml.etree: one rect per CPU with the class its plan
lists give it (worked out here from the plan's lists, not from report/roles.py), inside the
box of its NUMA node, on every hwloc machine dump and on a synthetic 1,024-CPU, 16-node host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time
from xml.etree import ElementTree

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan import planner
from ansible_collections.kvmops.hypervisor.plugins.module_utils.report import svg

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
HWLOC = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "hwloc")
NS = "{http://www.w3.org/2000/svg}"
SECTIONS = {"numa_pinning": {"allow_unplaced": True}}
POLICY = {"guests": [{"name": "db", "vcpus": 4, "memory_mb": 1024}, {"name": "web", "vcpus": 2, "memory_mb": 512}],
          "emulator_threads": "dedicated"}


def hwloc_cases():
    if not os.path.isdir(HWLOC):
        return []
    return sorted(name[:-len(".expected.json")] for name in os.listdir(HWLOC) if name.endswith(".expected.json"))


def hwloc_facts(name):
    with open(os.path.join(HWLOC, name + ".expected.json")) as handle:
        expected = json.load(handle)
    nodes = [{"id": n["id"], "cpus": n["cpus"], "memory_kb": n["memory_kb"],
              "hugepages": {"2048": {"total": 64, "free": 10, "surplus": 0}}} for n in expected["numa"]]
    return {
        "cpu": {"vendor": "AuthenticAMD" if "amd64" in name else "GenuineIntel", "flags": {"pdpe1gb": True},
                "online": expected["pus"], "offline": [], "core_groups": expected["cores"],
                "package_groups": expected["packages"], "l3_groups": expected["l3"]},
        "numa": {"nodes": nodes},
        "memory": {"total_kb": sum(n["memory_kb"] for n in nodes), "hugepage_sizes_kb": [2048, 1048576]},
        "kernel": {"release": "6.1.0"},
    }


def synthetic(sockets=4, cores=128, smt=2, nodes_per_socket=4, l3_cores=8, offline=()):
    """Linux numbering: first threads of every core of every socket, then the second ones."""
    total = sockets * cores
    core_groups, packages, l3, nodes = [], [], [], []
    for socket in range(sockets):
        package = []
        for core in range(cores):
            first = socket * cores + core
            group = [first + thread * total for thread in range(smt) if first + thread * total not in offline]
            core_groups.append(group)
            package += group
        packages.append(sorted(package))
        for start in range(0, cores, l3_cores):
            l3.append(sorted(c for core in range(start, start + l3_cores) for c in core_groups[socket * cores + core]))
        per_node = cores // nodes_per_socket
        for index in range(nodes_per_socket):
            cpus = sorted(c for core in range(index * per_node, (index + 1) * per_node)
                          for c in core_groups[socket * cores + core])
            nodes.append({"id": len(nodes), "cpus": cpus, "memory_kb": 64 * 1048576,
                          "hugepages": {"1048576": {"total": 32, "free": 0, "surplus": 0}}})
    online = sorted(c for group in core_groups for c in group)
    return {"cpu": {"vendor": "GenuineIntel", "flags": {"pdpe1gb": True}, "online": online,
                    "offline": sorted(offline), "core_groups": sorted(core_groups), "package_groups": sorted(packages),
                    "l3_groups": sorted(l3)},
            "numa": {"nodes": nodes},
            "memory": {"total_kb": 64 * 1048576 * len(nodes), "hugepage_sizes_kb": [2048, 1048576]},
            "kernel": {"release": "6.1.0"}}


def expected_classes(facts, plan):
    """CPU -> class, from the plan's lists."""
    pinned = set(cpu for guest in plan.get("guests") or [] for cpu in guest["vcpupin"].values())
    dedicated = set(plan["emulator_cpus"]) if set(plan["emulator_cpus"]) != set(plan["housekeeping_cpus"]) else set()
    out = {}
    for cpu in facts["cpu"]["offline"]:
        out[cpu] = "role-offline"
    for cpu in plan["housekeeping_cpus"]:
        out[cpu] = "role-emulator" if cpu in dedicated else "role-housekeeping"
    for cpu in plan["isolated_cpus"]:
        out[cpu] = "role-guest" if cpu in pinned else "role-isolated"
    return out


def read(text):
    root = ElementTree.fromstring(text)
    parents = dict((child, parent) for parent in root.iter() for child in parent)
    return root, parents


def cpu_rects(root):
    return [rect for rect in root.iter(NS + "rect") if "cpu" in rect.get("class", "").split()]


def box(rect):
    return tuple(float(rect.get(key)) for key in ("x", "y", "width", "height"))


def check(facts, plan):
    text = svg.topology_svg(facts, plan, "h")
    root, parents = read(text)
    rects = cpu_rects(root)
    every = sorted(facts["cpu"]["online"] + facts["cpu"]["offline"])
    assert sorted(int(rect.get("data-cpu")) for rect in rects) == every  # one rect per CPU
    classes = expected_classes(facts, plan)
    for rect in rects:
        cpu = int(rect.get("data-cpu"))
        role = [word for word in rect.get("class").split() if word.startswith("role-")]
        assert role == [classes[cpu]], (cpu, rect.get("class"))
    # each online CPU sits inside the box of the node that has it, and inside the picture
    node_of = dict((cpu, str(node["id"])) for node in facts["numa"]["nodes"] for cpu in node["cpus"])
    width, height = float(root.get("width")), float(root.get("height"))
    for rect in rects:
        x, y, w, h = box(rect)
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
        cpu = int(rect.get("data-cpu"))
        if cpu in node_of:
            group = parents[rect]
            assert group.get("class") == "node" and group.get("data-node") == node_of[cpu]
            nx, ny, nw, nh = box([r for r in group if r.get("class") == "box-node"][0])
            assert nx <= x and x + w <= nx + nw and ny <= y and y + h <= ny + nh
    assert len(set(box(rect)[:2] for rect in rects)) == len(rects)  # no two CPUs on one spot
    return root, text


@pytest.mark.hwloc
@pytest.mark.skipif(not os.path.isdir(HWLOC), reason="../shared/fixtures/hwloc is absent")
@pytest.mark.parametrize("name", hwloc_cases() or ["none"])
def test_every_hwloc_machine(name):
    facts = hwloc_facts(name)
    plan = planner.plan(facts, POLICY, sections=SECTIONS)
    root, dummy = check(facts, plan)
    nodes = set(group.get("data-node") for group in root.iter(NS + "g") if group.get("class") == "node")
    assert nodes == set(str(node["id"]) for node in facts["numa"]["nodes"])
    # the per-node huge pages line
    texts = [element.text or "" for element in root.iter(NS + "text")]
    assert sum(1 for text in texts if text.startswith("2M: plan")) >= len(facts["numa"]["nodes"])


def test_1024_cpus_16_nodes_stay_readable():
    facts = synthetic(offline=(1000, 1001))
    assert len(facts["cpu"]["online"]) == 1022 and len(facts["numa"]["nodes"]) == 16
    guests = [{"name": "vm%02d" % index, "vcpus": 16, "memory_mb": 4096} for index in range(20)]
    plan = planner.plan(facts, {"guests": guests, "emulator_threads": "dedicated"}, sections=SECTIONS)
    started = time.time()
    root, text = check(facts, plan)
    assert time.time() - started < 5
    # numbers in tooltips, not in 1,024 tiny cells; groups labelled by CPU list
    texts = list(root.iter(NS + "text"))
    assert not [element for element in texts if element.get("class") == "cpu-label"]
    titles = [rect.find(NS + "title").text for rect in cpu_rects(root)]
    assert "CPU 1000: offline" in titles
    assert any(title.startswith("CPU ") and "(vm" in title for title in titles)
    assert sum(1 for element in texts if (element.text or "").startswith("L3 ")) == len(facts["cpu"]["l3_groups"])
    assert float(root.get("width")) == svg.WIDTH and float(root.get("height")) < 8000
    assert len(text) < 1500000


def test_small_host_writes_cpu_numbers_and_no_plan_is_unplanned():
    facts = synthetic(sockets=1, cores=4, smt=2, nodes_per_socket=1, l3_cores=4)
    root, dummy = read(svg.topology_svg(facts, {}, "h"))
    rects = cpu_rects(root)
    assert set(rect.get("data-role") for rect in rects) == {"unplanned"}
    labels = sorted(int(element.text) for element in root.iter(NS + "text") if element.get("class") == "cpu-label")
    assert labels == list(range(8))


def test_memory_only_node_and_missing_topology():
    facts = {"cpu": {"online": [0, 1], "offline": []},
             "numa": {"nodes": [{"id": 0, "cpus": [0, 1], "memory_kb": 1048576},
                                {"id": 3, "cpus": [], "memory_kb": 2097152,
                                 "hugepages": {"2048": {"total": 4, "free": 4}}}]}}
    root, dummy = read(svg.topology_svg(facts, {"hugepage_pool": {"2048": {"3": 8}}}, "h"))
    assert len(cpu_rects(root)) == 2
    texts = [element.text or "" for element in root.iter(NS + "text")]
    assert "Memory-only NUMA nodes" in texts
    assert "2M: plan 8, alloc 4, free 4" in texts
