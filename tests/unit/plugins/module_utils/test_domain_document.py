"""Domain XML in and out: parsing, namespaces, masking, comparing (pure, no libvirt)."""

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import DomainXMLError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.document import (
    parse_domain,
    xml_equal,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.edit import apply_plan

from .domain_helpers import domain, guest


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


def test_xml_equal_ignores_quotes_whitespace_and_attribute_order():
    first = "<domain type='kvm' id='1'><name>a</name>\n  <vcpu>2</vcpu></domain>"
    second = '<domain id="1" type="kvm">\n<name> a </name><vcpu>2</vcpu>\n</domain>'
    assert xml_equal(first, second)
    assert not xml_equal(first, second.replace("<vcpu>2", "<vcpu>3"))


def test_passwords_are_masked_for_display_only():
    xml = domain("  <vcpu>VCPUS</vcpu>\n").replace(
        "  <devices>\n", "  <devices>\n    <graphics type='spice' passwd='hunter2'/>\n")
    result = apply_plan(xml, guest())
    assert "hunter2" not in result["before"] + result["after"]
    assert parse_domain(result["xml"]).find("devices/graphics").get("passwd") == "hunter2"
    assert xml_equal(result["xml"].replace("hunter2", "********"), result["after"])
