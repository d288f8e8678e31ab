"""Backups: restic repositories on S3 per tenant (and per host for the platform), provision, status, restore."""
