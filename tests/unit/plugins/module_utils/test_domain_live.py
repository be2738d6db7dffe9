"""Pin calls and pending restarts of a running domain (pure, no libvirt)."""

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import DomainXMLError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.document import parse_domain
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.edit import apply_plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.live import (
    cpumap,
    cpus_of_map,
    live_pin_actions,
    pending_restart,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.state import (
    desired_state,
    tuning_state,
)

from .domain_helpers import PLAIN, guest


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
