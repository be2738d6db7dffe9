import pytest
from hypothesis import given, strategies as st

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpulist,
    parse_cpumask,
)


@pytest.mark.parametrize("cpus, expected", [
    ([], ""),
    ([0], "0"),
    ([0, 1, 2, 3, 8], "0-3,8"),
    ([8, 3, 2, 1, 0, 3], "0-3,8"),
    ([1, 3, 5], "1,3,5"),
    ([0, 1, 4, 5, 6, 100], "0-1,4-6,100"),
])
def test_format(cpus, expected):
    assert format_cpulist(cpus) == expected


@pytest.mark.parametrize("text, nr_cpus, expected", [
    ("", None, []),
    ("\n", None, []),
    ("0-3,8\n", None, [0, 1, 2, 3, 8]),
    ("8,0-3", None, [0, 1, 2, 3, 8]),
    ("0-15:2/4", None, [0, 1, 4, 5, 8, 9, 12, 13]),
    ("0-1023:2/256", None, [0, 1, 256, 257, 512, 513, 768, 769]),
    ("0-N:1/2", 8, [0, 2, 4, 6]),
    ("N", 4, [3]),
    ("2-N", 4, [2, 3]),
    ("all", 3, [0, 1, 2]),
    ("all:1/2", 5, [0, 2, 4]),
    ("0-3:0/2", None, []),
    (" 1 , 2 ", None, [1, 2]),
    (7, None, [7]),
])
def test_parse(text, nr_cpus, expected):
    assert parse_cpulist(text, nr_cpus=nr_cpus) == expected


@pytest.mark.parametrize("text, nr_cpus, fragment", [
    ("3-1", None, "backwards"),
    ("a", None, "invalid CPU number 'a'"),
    ("1,,2", None, "empty element"),
    (",1", None, "empty element"),
    ("-1", None, "negative"),
    ("1--2", None, "invalid CPU number '-2'"),
    ("0-3:5/4", None, "more CPUs than the group"),
    ("0-3:1/0", None, "group size 0"),
    ("0-3:1", None, "used/group"),
    ("3:1/2", None, "single CPU"),
    ("N", None, "no CPU count"),
    ("all", None, "no CPU count"),
    ("4", 4, "beyond the last CPU (3)"),
    ("1.5", None, "invalid CPU number"),
    (None, None, "missing"),
])
def test_parse_rejects(text, nr_cpus, fragment):
    with pytest.raises(CpulistError, match=None) as info:
        parse_cpulist(text, nr_cpus=nr_cpus)
    assert fragment in str(info.value)


@pytest.mark.parametrize("cpus, fragment", [
    ([-1], "negative"),
    (["a"], "integer"),
    ([True], "integer"),
    ([1.5], "integer"),
])
def test_format_rejects(cpus, fragment):
    with pytest.raises(CpulistError) as info:
        format_cpulist(cpus)
    assert fragment in str(info.value)


@pytest.mark.parametrize("mask, expected", [
    ("00000000,0000ff0f", [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15]),
    ("1", [0]),
    ("80000000,00000000", [63]),
    ("0", []),
])
def test_parse_cpumask(mask, expected):
    assert parse_cpumask(mask) == expected


def test_parse_cpumask_rejects_garbage():
    with pytest.raises(CpulistError):
        parse_cpumask("zz,00")


@given(st.sets(st.integers(min_value=0, max_value=4096), max_size=300))
def test_round_trip(cpus):
    assert parse_cpulist(format_cpulist(cpus)) == sorted(cpus)


@given(st.integers(min_value=0, max_value=64), st.integers(min_value=0, max_value=64),
       st.integers(min_value=1, max_value=16), st.integers(min_value=0, max_value=16))
def test_group_pattern_matches_definition(start, length, group, used):
    used = min(used, group)
    end = start + length
    text = "%d-%d:%d/%d" % (start, end, used, group)
    expected = [cpu for cpu in range(start, end + 1) if (cpu - start) % group < used]
    assert parse_cpulist(text) == expected
