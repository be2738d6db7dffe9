"""Rewriting the owned sections of domain XML for a plan (pure, no libvirt)."""

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.document import parse_domain
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.edit import apply_plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.guests import validate_guests
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.state import tuning_state

from .domain_helpers import PLAIN, child_tags, domain, guest, without_owned


# ------------------------------------------------------------------ shapes of domains


def test_plain_domain_gets_every_section_in_libvirt_order():
    result = apply_plan(PLAIN, guest())
    assert result["changed"] and not result["errors"]
    assert result["sections"] == ["vcpupin", "emulatorpin", "numatune", "memoryBacking"]
    after = result["after"]
    top = [child.tag for child in parse_domain(after)]
    assert top[:8] == ["name", "uuid", "memory", "currentMemory", "memoryBacking", "vcpu",
                       "cputune", "numatune"]
    state = tuning_state(parse_domain(after))
    assert state == result["desired"]
    assert state["vcpupin"] == {0: [10], 1: [11]}
    assert state["emulatorpin"] == [8, 9]
    assert state["iothreadpin"] == {}
    assert state["numatune"] == {"memory": {"mode": "strict", "placement": "static",
                                            "nodeset": [1]}, "memnode": {}}
    assert state["memoryBacking"] == {"hugepages": [{"size_kib": 2048, "nodeset": None}]}
    root = parse_domain(after)
    assert root.find("cputune/emulatorpin").get("cpuset") == "8-9"
    assert root.find("memoryBacking/hugepages/page").attrib == {"size": "2048", "unit": "KiB"}
    assert without_owned(after) == without_owned(PLAIN)


def test_existing_cputune_keeps_shares_period_and_sched():
    body = (
        "  <vcpu placement='static'>VCPUS</vcpu>\n"
        "  <cputune>\n"
        "    <shares>2048</shares>\n"
        "    <period>100000</period>\n"
        "    <quota>-1</quota>\n"
        "    <vcpupin vcpu='0' cpuset='1'/>\n"
        "    <vcpupin vcpu='5' cpuset='1'/>\n"
        "    <vcpusched vcpus='0' scheduler='fifo' priority='1'/>\n"
        "  </cputune>\n"
    )
    xml = domain(body)
    result = apply_plan(xml, guest())
    tags = child_tags(result["after"], "cputune")
    assert tags == ["shares", "period", "quota", "vcpupin", "vcpupin", "emulatorpin",
                    "vcpusched"]
    root = parse_domain(result["after"])
    assert root.findtext("cputune/shares") == "2048"
    assert root.find("cputune/vcpusched").attrib == {"vcpus": "0", "scheduler": "fifo",
                                                     "priority": "1"}
    # the stale pin of a vCPU the domain does not have is gone
    assert sorted(pin.get("vcpu") for pin in root.findall("cputune/vcpupin")) == ["0", "1"]


def test_iothreads_by_count_get_pins_on_emulator_cpus():
    xml = domain("  <vcpu placement='static'>VCPUS</vcpu>\n  <iothreads>2</iothreads>\n")
    result = apply_plan(xml, guest())
    root = parse_domain(result["after"])
    pins = dict((pin.get("iothread"), pin.get("cpuset")) for pin in root.findall("cputune/iothreadpin"))
    assert pins == {"1": "8-9", "2": "8-9"}
    assert "iothreadpin" in result["sections"]
    top = [child.tag for child in root]
    assert top.index("cputune") == top.index("iothreads") + 1


def test_iothreadids_are_used_and_pins_of_missing_threads_dropped():
    body = (
        "  <vcpu placement='static'>VCPUS</vcpu>\n"
        "  <iothreads>2</iothreads>\n"
        "  <iothreadids>\n    <iothread id='5'/>\n    <iothread id='7'/>\n  </iothreadids>\n"
        "  <cputune>\n    <iothreadpin iothread='1' cpuset='0'/>\n  </cputune>\n"
    )
    result = apply_plan(domain(body), guest(iothreadpin=[2, 3]))
    state = tuning_state(parse_domain(result["after"]))
    assert state["iothreadpin"] == {5: [2, 3], 7: [2, 3]}


def test_memory_backing_keeps_locked_and_source():
    body = (
        "  <memoryBacking>\n    <nosharepages/>\n    <locked/>\n"
        "    <source type='memfd'/>\n    <access mode='shared'/>\n  </memoryBacking>\n"
        "  <vcpu placement='static'>VCPUS</vcpu>\n"
    )
    result = apply_plan(domain(body), guest(hugepage_size_kb=1048576))
    assert child_tags(result["after"], "memoryBacking") == [
        "hugepages", "nosharepages", "locked", "source", "access"]
    page = parse_domain(result["after"]).find("memoryBacking/hugepages/page")
    assert page.attrib == {"size": "1048576", "unit": "KiB"}


def test_hugepages_false_removes_only_hugepages():
    body = (
        "  <memoryBacking>\n    <hugepages>\n      <page size='2' unit='M'/>\n    </hugepages>\n"
        "    <locked/>\n  </memoryBacking>\n  <vcpu placement='static'>VCPUS</vcpu>\n"
    )
    result = apply_plan(domain(body), guest(hugepages=False))
    assert "memoryBacking" in result["sections"]
    assert child_tags(result["after"], "memoryBacking") == ["locked"]


def test_hugepages_false_drops_an_empty_memory_backing():
    body = ("  <memoryBacking>\n    <hugepages/>\n  </memoryBacking>\n"
            "  <vcpu placement='static'>VCPUS</vcpu>\n")
    result = apply_plan(domain(body), guest(hugepages=False))
    assert parse_domain(result["after"]).find("memoryBacking") is None
    assert tuning_state(parse_domain(domain(body)))["memoryBacking"] == {"hugepages": []}


def test_hugepages_of_another_size_are_replaced():
    body = (
        "  <memoryBacking>\n    <hugepages>\n      <page size='1' unit='G' nodeset='0'/>\n"
        "      <page size='2048' unit='KiB' nodeset='1'/>\n    </hugepages>\n"
        "  </memoryBacking>\n  <vcpu placement='static'>VCPUS</vcpu>\n"
    )
    result = apply_plan(domain(body), guest())
    pages = parse_domain(result["after"]).findall("memoryBacking/hugepages/page")
    assert [page.attrib for page in pages] == [{"size": "2048", "unit": "KiB"}]


def test_guest_numa_cells_get_memnodes_and_stale_ones_go():
    body = (
        "  <vcpu placement='static'>VCPUS</vcpu>\n"
        "  <numatune>\n    <memory mode='interleave' nodeset='0-1'/>\n"
        "    <memnode cellid='0' mode='preferred' nodeset='0'/>\n"
        "    <memnode cellid='3' mode='strict' nodeset='0'/>\n  </numatune>\n"
        "  <cpu mode='host-passthrough'>\n    <numa>\n"
        "      <cell id='0' cpus='0' memory='524288' unit='KiB'/>\n"
        "      <cell id='1' cpus='1' memory='524288' unit='KiB'/>\n"
        "    </numa>\n  </cpu>\n"
    )
    result = apply_plan(domain(body), guest(memory_node=[2, 3]))
    root = parse_domain(result["after"])
    assert root.find("numatune/memory").attrib == {"mode": "strict", "nodeset": "2-3"}
    assert [node.attrib for node in root.findall("numatune/memnode")] == [
        {"cellid": "0", "mode": "strict", "nodeset": "2-3"},
        {"cellid": "1", "mode": "strict", "nodeset": "2-3"},
    ]
    # the guest topology itself is not ours
    assert [cell.attrib for cell in root.findall("cpu/numa/cell")] == [
        cell.attrib for cell in parse_domain(body.join(["<domain>", "</domain>"])).findall(
            "cpu/numa/cell")]


def test_vcpu_placement_auto_becomes_static_count_and_current_kept():
    body = "  <vcpu placement='auto' cpuset='0-3' current='1'>VCPUS</vcpu>\n"
    result = apply_plan(domain(body), guest())
    vcpu = parse_domain(result["after"]).find("vcpu")
    assert vcpu.attrib == {"placement": "static", "current": "1"}
    assert vcpu.text == "2"
    assert result["sections"][0] == "vcpu"


def test_missing_vcpu_element_means_one_static_vcpu():
    xml = domain("")
    result = apply_plan(xml, guest(vcpus=1, vcpupin={0: 4}))
    assert not result["errors"]
    assert "vcpu" not in result["sections"]
    assert parse_domain(result["after"]).find("vcpu") is None


# ------------------------------------------------------------------ no false changes


ALREADY_PINNED = domain(
    "  <memoryBacking>\n    <hugepages>\n      <page size='2' unit='MiB'/>\n"
    "    </hugepages>\n    <locked/>\n  </memoryBacking>\n"
    "  <vcpu>VCPUS</vcpu>\n"
    "  <cputune>\n    <shares>1024</shares>\n"
    "    <emulatorpin cpuset='9,8'/>\n"
    "    <vcpupin vcpu='1' cpuset='11'/>\n    <vcpupin vcpu='0' cpuset='10-10'/>\n"
    "  </cputune>\n"
    "  <numatune>\n    <memory placement='static' nodeset='1'/>\n  </numatune>\n",
    memory="<memory unit='MiB'>1024</memory>")


def test_equivalent_spelling_is_not_a_change():
    result = apply_plan(ALREADY_PINNED, guest())
    assert result["sections"] == []
    assert result["changed"] is False
    assert result["before"] == result["after"]


SHAPES = {
    "plain": PLAIN,
    "pinned": ALREADY_PINNED,
    "iothreads": domain("  <vcpu>VCPUS</vcpu>\n  <iothreads>3</iothreads>\n"
                        "  <cputune>\n    <period>1000</period>\n  </cputune>\n"),
    "cells": domain("  <vcpu placement='auto'>VCPUS</vcpu>\n  <cpu>\n    <numa>\n"
                    "      <cell id='0' cpus='0-1' memory='1' unit='GiB'/>\n"
                    "    </numa>\n  </cpu>\n"),
    "backing": domain("  <memoryBacking>\n    <locked/>\n  </memoryBacking>\n"
                      "  <vcpu>VCPUS</vcpu>\n"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("hugepages", [True, False])
def test_second_pass_changes_nothing_and_other_parts_untouched(shape, hugepages):
    plan = guest(hugepages=hugepages)
    first = apply_plan(SHAPES[shape], plan)
    assert tuning_state(parse_domain(first["after"])) == first["desired"]
    assert without_owned(first["after"]) == without_owned(SHAPES[shape])
    second = apply_plan(first["after"], plan)
    assert second["changed"] is False and second["sections"] == []
    # libvirt would hand the XML back single-quoted: still no change
    requoted = first["after"].replace('"', "'")
    assert apply_plan(requoted, plan)["changed"] is False


@settings(max_examples=40, deadline=None)
@given(
    pins=st.lists(st.sets(st.integers(0, 63), min_size=1, max_size=4), min_size=1, max_size=8),
    emulator=st.sets(st.integers(0, 63), min_size=1, max_size=4),
    nodes=st.sets(st.integers(0, 7), min_size=1, max_size=2),
    iothreads=st.integers(0, 3),
)
def test_any_plan_is_applied_exactly_and_idempotently(pins, emulator, nodes, iothreads):
    plan = validate_guests([{
        "name": "vm1", "vcpus": len(pins), "memory_node": sorted(nodes),
        "vcpupin": dict((str(index), sorted(cpus)) for index, cpus in enumerate(pins)),
        "emulatorpin": sorted(emulator), "hugepages": False,
    }])[0]
    body = "  <vcpu placement='static'>VCPUS</vcpu>\n"
    if iothreads:
        body += "  <iothreads>%d</iothreads>\n" % iothreads
    xml = domain(body, vcpus=len(pins))
    first = apply_plan(xml, plan)
    state = tuning_state(parse_domain(first["after"]))
    assert state["vcpupin"] == dict((index, sorted(cpus)) for index, cpus in enumerate(pins))
    assert state["emulatorpin"] == sorted(emulator)
    assert state["iothreadpin"] == dict((thread, sorted(emulator))
                                        for thread in range(1, iothreads + 1))
    assert state["numatune"]["memory"]["nodeset"] == sorted(nodes)
    assert apply_plan(first["after"], plan)["changed"] is False


# ------------------------------------------------------------------ mismatches


def test_vcpu_count_mismatch_is_an_error_and_changes_nothing():
    result = apply_plan(domain("  <vcpu placement='static'>VCPUS</vcpu>\n", vcpus=4), guest())
    assert result["changed"] is False
    assert result["after"] == result["before"]
    assert len(result["errors"]) == 1
    assert "vm1 has 4 vCPUs but the plan pins 2" in result["errors"][0]


@pytest.mark.parametrize("memory, fits", [
    ("<memory unit='KiB'>1048576</memory>", True),
    ("<memory unit='GiB'>1</memory>", True),
    ("<memory>1048576</memory>", True),
    ("<memory unit='b'>1073741824</memory>", True),
    ("<memory unit='MiB'>2048</memory>", False),
    ("<memory unit='GB'>1</memory>", False),
])
def test_memory_is_compared_in_kib(memory, fits):
    result = apply_plan(domain("  <vcpu>VCPUS</vcpu>\n", memory=memory), guest())
    assert (result["errors"] == []) is fits
    if not fits:
        assert "MiB" in result["errors"][0] and result["changed"] is False


def test_memory_not_a_multiple_of_the_page_size_is_reported():
    result = apply_plan(domain("  <vcpu>VCPUS</vcpu>\n", memory="<memory unit='KiB'>1049600</memory>"),
                        guest(memory_mb=None, hugepage_size_kb=1048576))
    assert "not a multiple of the 1048576 KiB huge page size" in result["errors"][0]
