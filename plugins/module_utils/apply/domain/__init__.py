# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pin a libvirt domain's XML to a ``kvm_host_plan.guests`` entry.

The element names and their meaning are libvirt's domain XML format
(https://libvirt.org/formatdomain.html): "CPU Allocation" (``<vcpu>``), "IOThreads
Allocation", "CPU Tuning" (``<cputune>``: ``vcpupin``, ``emulatorpin``, ``iothreadpin``),
"Memory Backing" (``<memoryBacking><hugepages><page>``) and "NUMA Node Tuning"
(``<numatune>``: ``memory``, ``memnode``), "NUMA topology" (``<cpu><numa><cell>``).

Only these parts are ever rewritten ("owned"):

* ``<vcpu>``: ``placement='static'`` and no ``cpuset`` attribute (every vCPU, the
  emulator and every IOThread get an explicit pin, so a default mask would only
  mislead); the vCPU count and ``current`` are never changed.
* ``<cputune>``: every ``vcpupin``, ``emulatorpin`` and ``iothreadpin`` child; other
  children (``shares``, ``period``, ``vcpusched``, ``cachetune`` ...) are kept.
* ``<numatune>``: ``<memory mode='strict' nodeset=memory_node/>`` and one
  ``<memnode cellid=N mode='strict' nodeset=memory_node/>`` per guest NUMA cell. A guest
  the planner had to spread over nodes (``spans_nodes``) gets every node of its
  ``memory_mb_by_node`` in the nodeset, since its huge pages were reserved there.
* ``<memoryBacking><hugepages>``: one ``<page size=N unit='KiB'/>`` when the plan asks for
  huge pages, no ``<hugepages>`` otherwise; ``locked``, ``nosharepages``, ``source``,
  ``access``, ``allocation`` ... are kept. The ``page`` element gets no ``nodeset``:
  that attribute names *guest* NUMA cells, and without it the size applies to all of
  them; the *host* node the pages come from is set by ``<numatune>``.

A section is rewritten only when its meaning differs from the plan (CPU sets are
compared as sets, sizes in KiB, defaults filled in), so libvirt's own reformatting of
the XML never shows up as a change.

The parts, in the order the module uses them (all pure but ``tune``):

* ``base``: DomainXMLError and the names of the owned sections.
* ``guests``: validate the plan entries (``validate_guests``, ``planned_cpus``).
* ``document``: parse, serialise and compare domain XML.
* ``state``: what a domain is (``domain_facts``), how its owned sections are tuned
  now (``tuning_state``) and how the plan wants them (``desired_state``,
  ``check_domain``).
* ``edit``: rewrite the owned sections and produce the diff (``apply_plan``).
* ``live``: pin calls and pending-restart sections of a running domain.
* ``tune``: drive all of it through a libvirt connection for the module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type
