"""The infrastructure audit: a controls catalogue mapped to BSI IT-Grundschutz, read-only checks, reports.

``counselkit audit`` (commands.py) runs the checks (checks/, one module per area) named in catalogue.yaml against the hosts of an
inventory through testinfra, with every command passing the read-only guard (guard.py), and writes an HTML report
for people and JUnit XML for CI (report.py). See docs/audit.md.
"""
