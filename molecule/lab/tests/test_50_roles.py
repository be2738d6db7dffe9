"""Checks of the roles' outcome on the converged lab host go here (one test per outcome).

The lab scenario converges playbooks/site.yml; tests in this file run after converge and
idempotence and before test_90_reboot.py, which reboots the host so that tests after it
see the kernel command line the roles wrote.
"""
