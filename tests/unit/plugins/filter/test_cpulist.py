import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.hypervisor.plugins.filter.cpulist import FilterModule

FILTERS = FilterModule().filters()


def test_filters_registered():
    assert set(FILTERS) == {"cpulist", "cpulist_parse"}


def test_cpulist_merges_ranges():
    assert FILTERS["cpulist"]([0, 1, 2, 3, 8]) == "0-3,8"


def test_cpulist_parse_with_count():
    assert FILTERS["cpulist_parse"]("0-N:1/2", 6) == [0, 2, 4]


@pytest.mark.parametrize("text", ["3-1", "a", "1,,2", "-4"])
def test_cpulist_parse_bad_input_names_filter(text):
    with pytest.raises(AnsibleFilterError) as info:
        FILTERS["cpulist_parse"](text)
    assert "kvmops.hypervisor.cpulist_parse" in str(info.value)
    assert repr(text) in str(info.value) or text in str(info.value)


def test_cpulist_rejects_string():
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        FILTERS["cpulist"]("0-3")


def test_cpulist_rejects_negative():
    with pytest.raises(AnsibleFilterError, match="negative"):
        FILTERS["cpulist"]([1, -2])
