"""Checks shared by the lab tests, the parity test and the molecule verifiers (testinfra hosts in, facts out)."""
