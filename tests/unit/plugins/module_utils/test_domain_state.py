"""Reading a domain's facts and tuning, and the tuning a plan wants (pure, no libvirt)."""

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import DomainXMLError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.document import parse_domain
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.state import (
    desired_state,
    domain_facts,
    tuning_state,
)

from .domain_helpers import domain, guest


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


def test_desired_state_follows_domain_facts():
    facts = {"vcpus": 2, "memory_kib": None, "iothread_ids": [1, 4], "numa_cells": [0, 2]}
    state = desired_state(facts, guest(iothreadpin=[7]))
    assert state["iothreadpin"] == {1: [7], 4: [7]}
    assert sorted(state["numatune"]["memnode"]) == [0, 2]
