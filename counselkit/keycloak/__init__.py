"""Keycloak for counselkit: install (deploy/keycloak.py), realms and accounts per tenant, Synapse OIDC, seats.

See docs/keycloak.md for the decisions (hostname per tenant vhost, provisioning through an SSH tunnel, seats).
"""
