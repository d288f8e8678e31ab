"""Billing from tenants.yaml: SaaS prices or cost sharing (Umlage), German invoices as PDF and EN 16931 e-invoices.

Flow: `compute` turns the inventory, the plan (seats) and measured usage into invoice documents; `ledger`
numbers them once and for all; `cii` renders the XRechnung CII XML, `validate` checks it against the official
rules, `pdf` renders the human-readable invoice and embeds the XML (ZUGFeRD/Factur-X); `run` ties it together.
"""
