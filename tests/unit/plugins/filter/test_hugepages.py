import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.hypervisor.plugins.filter.hugepages import FilterModule

FILTERS = FilterModule().filters()


def test_hugepage_mounts():
    result = FILTERS["hugepage_mounts"]({"2048": {"0": 1}, "1048576": {"1": 1}}, "/dev/hugepages", 1048576)
    assert [(m["path"], m["opts"]) for m in result] == [
        ("/dev/hugepages1G", "pagesize=1G"), ("/dev/hugepages2M", "pagesize=2M")]


def test_hugepage_mounts_bad_input_names_filter():
    with pytest.raises(AnsibleFilterError, match="hugepage_mounts.*power of two"):
        FILTERS["hugepage_mounts"]({"1000": {"0": 1}})
