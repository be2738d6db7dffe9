"""Shared pieces of the kvm_host_facts tests (not a test module itself)."""

import json
import os
import subprocess
import sys
import tarfile
from xml.etree import ElementTree

UNIT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPO = os.path.dirname(os.path.dirname(UNIT))
HWLOC_FIXTURES = os.path.join(os.path.dirname(REPO), "shared", "fixtures", "hwloc")

if UNIT not in sys.path:
    sys.path.insert(0, UNIT)

from sysfs_builder import Host, Tree, cpumask, snapshot  # noqa: E402  pylint: disable=wrong-import-position

__all__ = ["Host", "Tree", "cpumask", "snapshot", "hwloc_dumps", "extract_dump", "expected_answer",
           "lstopo", "hwloc_view"]


def hwloc_dumps():
    """Names of the real machine dumps in ../shared/fixtures/hwloc ([] when absent)."""
    if not os.path.isdir(HWLOC_FIXTURES):
        return []
    return sorted(name[:-len(".tar.bz2")] for name in os.listdir(HWLOC_FIXTURES)
                  if name.endswith(".tar.bz2")
                  and os.path.exists(os.path.join(HWLOC_FIXTURES, name[:-len(".tar.bz2")]
                                                  + ".expected.json")))


def extract_dump(name, directory):
    """Extract dump ``name`` under ``directory``; returns its root (the one top folder)."""
    with tarfile.open(os.path.join(HWLOC_FIXTURES, name + ".tar.bz2")) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(str(directory), filter="data")
        else:  # pragma: no cover - Python < 3.12 without the backport
            archive.extractall(str(directory))
    entries = [entry for entry in os.listdir(str(directory))
               if os.path.isdir(os.path.join(str(directory), entry))]
    assert len(entries) == 1, entries
    return os.path.join(str(directory), entries[0])


def expected_answer(name):
    with open(os.path.join(HWLOC_FIXTURES, name + ".expected.json")) as handle:
        return json.load(handle)


def hwloc_bitmap(text):
    """CPU ids of an hwloc bitmap string (``0x000000ff,0xffffffff``)."""
    words = [word.strip() for word in text.split(",") if word.strip()]
    value = 0
    for word in words:
        value = (value << 32) | int(word, 16)
    cpus = []
    bit = 0
    while value:
        if value & 1:
            cpus.append(bit)
        value >>= 1
        bit += 1
    return cpus


def lstopo(root):
    """What hwloc's lstopo-no-graphics --disallowed reports for the tree at ``root``:
    {pus, cores, packages, l3, numa: [{id, cpus, memory_kb}]} as sorted lists."""
    xml = subprocess.run(["lstopo-no-graphics", "-i", str(root), "--disallowed", "--of", "xml"],
                         check=True, capture_output=True, text=True).stdout
    answer = {"pus": [], "cores": [], "packages": [], "l3": [], "numa": []}
    for obj in ElementTree.fromstring(xml).iter("object"):
        kind = obj.get("type")
        cpus = hwloc_bitmap(obj.get("cpuset", "0x0"))
        if kind == "PU":
            answer["pus"].append(int(obj.get("os_index")))
        elif kind == "Core":
            answer["cores"].append(cpus)
        elif kind == "Package":
            answer["packages"].append(cpus)
        elif kind == "L3Cache":
            answer["l3"].append(cpus)
        elif kind == "NUMANode":
            answer["numa"].append({"id": int(obj.get("os_index")), "cpus": cpus,
                                   "memory_kb": int(obj.get("local_memory", 0)) // 1024})
    for key in ("pus", "cores", "packages", "l3"):
        answer[key] = sorted(answer[key])
    answer["numa"] = sorted(answer["numa"], key=lambda node: node["id"])
    return answer


def hwloc_view(facts):
    """The part of kvm_host that hwloc also reports, in the expected.json shape."""
    return {
        "pus": facts["cpu"]["online"],
        "cores": facts["cpu"]["core_groups"],
        "packages": facts["cpu"]["package_groups"],
        "l3": facts["cpu"]["l3_groups"],
        "numa": [{"id": node["id"], "cpus": node["cpus"], "memory_kb": node["memory_kb"]}
                 for node in facts["numa"]["nodes"]],
    }
