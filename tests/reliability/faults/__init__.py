"""The fault-injection harness (see :mod:`tests.reliability.fault_injection` for what it checks
and how to run it): project and edits, checks, processes, commands, trials, campaigns."""
