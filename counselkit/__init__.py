"""counselkit: one tenants.yaml to a hardened, billed SaaS installation of the online counselling platform."""

__version__ = "0.1.0"
