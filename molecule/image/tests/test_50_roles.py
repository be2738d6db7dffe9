"""Checks of the files the roles write in image mode go here (one test per outcome).

Commands reach the chroot through Ansible (community.general.chroot has no native testinfra
backend), about a second each: read several files per command where it matters.
"""
