"""Shared pieces of the domain XML tests (not a test module itself)."""

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.document import (
    canonical,
    parse_domain,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.guests import validate_guests

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
