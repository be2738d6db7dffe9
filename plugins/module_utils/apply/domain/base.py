# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every part of the domain package shares: its error and the owned sections."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


# Sections this module owns, in the order they are reported.
SECTIONS = ("vcpu", "vcpupin", "emulatorpin", "iothreadpin", "numatune", "memoryBacking")
# What a running domain can take through the API without a restart.
LIVE_SECTIONS = ("vcpupin", "emulatorpin", "iothreadpin")


class DomainXMLError(ValueError):
    """Bad plan input or a domain XML this module cannot work on."""
