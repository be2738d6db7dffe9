"""Pure tests of the domain XML transformation (no libvirt)."""

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import DomainXMLError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.document import canonical, parse_domain, xml_equal
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.edit import apply_plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.guests import planned_cpus, validate_guests
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.live import cpumap, cpus_of_map, live_pin_actions, pending_restart
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.state import desired_state, domain_facts, tuning_state

OWNED_TOP = ("vcpu", "cputune", "numatune", "memoryBacking")


def guest(**overrides):
    entry = {
        "name": "vm1", "numa_node": 1, "memory_node": 1, "vcpus": 2, "memory_mb": 1024,
        "hugepages": True, "hugepage_size_kb": 2048, "vcpupin": {"0": 10, "1": 11},
        "emulatorpin": [8, 9], "spans_nodes": False,
    }
    entry.update(overrides)
    return validate_guests([entry])[0]


def domain(body, vcpus=2, memory="<memory unit='KiB'>1048576</memory>", name="vm1"):
    """A libvirt-formatted domain (single quotes, two-space indent) around ``body``."""
    return (
        "<domain type='kvm'>\n"
        "  <name>%s</name>\n"
        "  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>\n"
        "  %s\n"
        "  <currentMemory unit='KiB'>1048576</currentMemory>\n"
        "%s"
        "  <os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n  </os>\n"
        "  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n  </devices>\n"
        "</domain>\n" % (name, memory, body.replace("VCPUS", str(vcpus)))
    )


PLAIN = domain("  <vcpu placement='static'>VCPUS</vcpu>\n")


def without_owned(xml_text):
    """Canonical form of everything this module must not touch."""
    root = parse_domain(xml_text)
    for tag in OWNED_TOP:
        for element in root.findall(tag):
            root.remove(element)
    return canonical(root)


def child_tags(xml_text, path):
    return [child.tag for child in parse_domain(xml_text).find(path)]


# ------------------------------------------------------------------ validate_guests


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


# ------------------------------------------------------------------ XML handling


def test_namespaced_metadata_keeps_its_prefix():
    body = (
        "  <metadata>\n    <libosinfo:libosinfo "
        "xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>\n"
        "      <libosinfo:os id='http://debian.org/debian/12'/>\n"
        "    </libosinfo:libosinfo>\n  </metadata>\n"
        "  <vcpu>VCPUS</vcpu>\n"
    )
    result = apply_plan(domain(body), guest())
    assert "<libosinfo:os " in result["after"]
    assert "ns0:" not in result["after"]
    assert apply_plan(result["after"], guest())["changed"] is False


@pytest.mark.parametrize("text, message", [
    ("<domain", "does not parse"),
    ("<network><name>x</name></network>", "not <domain>"),
    (None, "must be a string"),
])
def test_bad_xml_is_a_clear_error(text, message):
    with pytest.raises(DomainXMLError, match=message):
        apply_plan(text, guest())


def test_bad_values_inside_the_domain_are_clear_errors():
    with pytest.raises(DomainXMLError, match="<vcpupin>"):
        tuning_state(parse_domain(domain(
            "  <vcpu>VCPUS</vcpu>\n  <cputune>\n    <vcpupin vcpu='0' cpuset='x'/>\n"
            "  </cputune>\n")))
    with pytest.raises(DomainXMLError, match=r"<vcpupin>: attribute vcpu=None is not an integer"):
        tuning_state(parse_domain(domain(
            "  <cputune>\n    <vcpupin cpuset='1'/>\n  </cputune>\n")))
    with pytest.raises(DomainXMLError, match="<iothreads> holds 'many'"):
        domain_facts(parse_domain(domain("  <iothreads>many</iothreads>\n")))
    with pytest.raises(DomainXMLError, match="unknown unit"):
        domain_facts(parse_domain(domain("", memory="<memory unit='parsec'>1</memory>")))


def test_xml_equal_ignores_quotes_whitespace_and_attribute_order():
    first = "<domain type='kvm' id='1'><name>a</name>\n  <vcpu>2</vcpu></domain>"
    second = '<domain id="1" type="kvm">\n<name> a </name><vcpu>2</vcpu>\n</domain>'
    assert xml_equal(first, second)
    assert not xml_equal(first, second.replace("<vcpu>2", "<vcpu>3"))


def test_desired_state_follows_domain_facts():
    facts = {"vcpus": 2, "memory_kib": None, "iothread_ids": [1, 4], "numa_cells": [0, 2]}
    state = desired_state(facts, guest(iothreadpin=[7]))
    assert state["iothreadpin"] == {1: [7], 4: [7]}
    assert sorted(state["numatune"]["memnode"]) == [0, 2]


# ------------------------------------------------------------------ running domains


def test_cpumap_round_trip_and_bounds():
    assert cpumap([1, 3], 4) == (False, True, False, True)
    assert cpus_of_map(cpumap([0, 5, 6], 8)) == [0, 5, 6]
    with pytest.raises(DomainXMLError, match=r"CPU 8-9 is beyond the host's last CPU \(7\)"):
        cpumap([1, 8, 9], 8)


def test_live_pin_actions_only_for_differences():
    desired = desired_state({"iothread_ids": [1, 2], "numa_cells": []}, guest())
    actions, missing = live_pin_actions(desired, [[10], [0, 1, 2]], [8, 9], {1: [8, 9], 2: [0]})
    assert actions == [("vcpupin", 1, [11]), ("iothreadpin", 2, [8, 9])]
    assert missing == []
    assert live_pin_actions(desired, [[10], [11]], [9, 8], {1: [8, 9], 2: [9, 8]}) == ([], [])


def test_live_pin_actions_unknown_and_absent():
    desired = desired_state({"iothread_ids": [1], "numa_cells": []}, guest())
    actions, missing = live_pin_actions(desired, None, None, None)
    assert [action[0] for action in actions] == ["vcpupin", "vcpupin", "emulatorpin",
                                                 "iothreadpin"]
    actions, missing = live_pin_actions(desired, [[10]], [8, 9], {})
    assert actions == [] and missing == ["iothreadpin", "vcpupin"]


def test_pending_restart_compares_live_xml_with_plan():
    desired = apply_plan(PLAIN, guest())["desired"]
    live = tuning_state(parse_domain(PLAIN))
    assert pending_restart(desired, live) == ["numatune", "memoryBacking"]
    assert pending_restart(desired, live, ["emulatorpin"]) == [
        "emulatorpin", "numatune", "memoryBacking"]
    assert pending_restart(desired, desired) == []


def test_passwords_are_masked_for_display_only():
    xml = domain("  <vcpu>VCPUS</vcpu>\n").replace(
        "  <devices>\n", "  <devices>\n    <graphics type='spice' passwd='hunter2'/>\n")
    result = apply_plan(xml, guest())
    assert "hunter2" not in result["before"] + result["after"]
    assert parse_domain(result["xml"]).find("devices/graphics").get("passwd") == "hunter2"
    assert xml_equal(result["xml"].replace("hunter2", "********"), result["after"])
