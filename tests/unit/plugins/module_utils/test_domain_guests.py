"""Validating and normalising the plan's guest entries (pure, no libvirt)."""

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import DomainXMLError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.document import parse_domain
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.edit import apply_plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.guests import (
    planned_cpus,
    validate_guests,
)

from .domain_helpers import PLAIN, guest


def test_validate_normalises_plan_entry():
    result = guest(vcpupin={"0": "10-11", 1: [12, 11]}, memory_node="1")
    assert result["vcpupin"] == {0: [10, 11], 1: [11, 12]}
    assert result["memory_nodes"] == [1]
    assert result["iothreadpin"] == [8, 9]  # defaults to emulatorpin
    assert planned_cpus(result) == [8, 9, 10, 11, 12]


def test_iothreadpin_module_default_and_guest_override():
    entry = dict(name="a", vcpus=1, vcpupin={0: 3}, emulatorpin=[1], memory_node=0)
    assert validate_guests([entry], iothreadpin=[2])[0]["iothreadpin"] == [2]
    entry["iothreadpin"] = "4-5"
    assert validate_guests([entry], iothreadpin=[2])[0]["iothreadpin"] == [4, 5]


def test_extra_plan_keys_are_ignored_and_optional_keys_default():
    result = validate_guests([dict(name="a", vcpus=1, vcpupin={0: 3}, emulatorpin=[1],
                                   memory_node=[0, 1], future_key="x")])[0]
    assert result["hugepages"] is False
    assert result["memory_mb"] is None
    assert result["memory_nodes"] == [0, 1]


def test_spanning_guest_gets_every_node_its_memory_was_placed_on():
    spread = {"0": 512, "1": 512, "2": 0}
    assert guest(spans_nodes=True, memory_mb_by_node=spread)["memory_nodes"] == [0, 1]
    # a guest on one node keeps memory_node whatever else the plan carries
    assert guest(spans_nodes=False, memory_mb_by_node=spread)["memory_nodes"] == [1]
    result = apply_plan(PLAIN, guest(spans_nodes=True, memory_mb_by_node=spread))
    assert parse_domain(result["after"]).find("numatune/memory").get("nodeset") == "0-1"


@pytest.mark.parametrize("overrides, message", [
    ({"vcpupin": {"0": 10}}, r"guests\[0\] \(vm1\)\.vcpupin must pin every vCPU 0-1"),
    ({"vcpupin": {"0": 10, "1": 11, "2": 12}}, r"vcpupin must pin every vCPU 0-1"),
    ({"vcpupin": [10, 11]}, r"vcpupin must be a dict"),
    ({"vcpupin": {"0": 10, "x": 11}}, r"vcpupin key 'x' must be an integer"),
    ({"vcpupin": {"0": 10, "1": -1}}, r"vcpupin\[1\]"),
    ({"vcpupin": {"0": 10, "1": True}}, r"vcpupin\[1\] must be CPU ids"),
    ({"vcpus": 0}, r"vcpus must be at least 1"),
    ({"vcpus": "two"}, r"vcpus must be an integer"),
    ({"emulatorpin": []}, r"emulatorpin must name at least one CPU"),
    ({"emulatorpin": None}, r"emulatorpin is missing"),
    ({"memory_node": None}, r"memory_node is missing"),
    ({"hugepage_size_kb": None}, r"hugepage_size_kb is missing \(hugepages is true\)"),
    ({"hugepage_size_kb": 1048576, "memory_mb": 1536}, r"memory_mb \(1536 MiB\) is not a multiple"),
    ({"hugepages": "maybe"}, r"hugepages must be a boolean"),
    ({"name": ""}, r"guests\[0\]\.name must be a non-empty string"),
    ({"iothreadpin": "1,,2"}, r"iothreadpin: empty element"),
    ({"spans_nodes": True, "memory_mb_by_node": [512]}, r"memory_mb_by_node must be a dict"),
    ({"spans_nodes": True, "memory_mb_by_node": {"0": 0}}, r"memory_mb_by_node places no memory"),
    ({"spans_nodes": True, "memory_mb_by_node": {"x": 1}}, r"memory_mb_by_node key 'x'"),
])
def test_validate_rejects_bad_entries(overrides, message):
    entry = {"name": "vm1", "memory_node": 1, "vcpus": 2, "memory_mb": 1024,
             "hugepages": True, "hugepage_size_kb": 2048, "vcpupin": {"0": 10, "1": 11},
             "emulatorpin": [8]}
    entry.update(overrides)
    with pytest.raises(DomainXMLError, match=message):
        validate_guests([entry])


def test_validate_rejects_duplicates_and_non_lists():
    entry = dict(name="a", vcpus=1, vcpupin={0: 3}, emulatorpin=[1], memory_node=0)
    with pytest.raises(DomainXMLError, match=r"guests\[1\] \(a\): guest name 'a' is planned twice"):
        validate_guests([entry, dict(entry)])
    with pytest.raises(DomainXMLError, match="guests must be a list"):
        validate_guests({"a": entry})
    with pytest.raises(DomainXMLError, match=r"guests\[0\] must be a dict"):
        validate_guests(["a"])
    with pytest.raises(DomainXMLError, match=r"^iothreadpin"):
        validate_guests([entry], iothreadpin=["x"])
