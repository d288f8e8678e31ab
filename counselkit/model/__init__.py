"""The pydantic model of tenants.yaml."""

from .inventory import Inventory
from .platform import Platform
from .tenant import Tenant

__all__ = ["Inventory", "Platform", "Tenant"]
