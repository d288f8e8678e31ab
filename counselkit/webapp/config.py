"""The per-centre config of the web app (/config.json next to the one bundle), built from the tenant's model.

Minimal version by h12-webapp (the branding work of h16-webkit extends it): name, topics, opening hours, absence
text, colours, imprint and privacy links, the quick-exit target and the consent version sent at registration. The
app takes the live texts from GET /_counselkit/v1/centre when it can; these are the fallback and the colours.
"""

from __future__ import annotations

import hashlib
from typing import Any

from counselkit import layout


def consent_version(branding: dict[str, Any]) -> str:
    """Names the privacy text a help-seeker agreed to: changes when the privacy (or terms) link changes."""
    links = f"{branding['privacy_url']}\n{branding.get('terms_url') or ''}"
    return "privacy-" + hashlib.sha256(links.encode()).hexdigest()[:16]


def tenant_web_config(tenant: dict[str, Any]) -> dict[str, Any]:
    """The config.json of one tenant (tenant: its template vars, counselkit.render.tenant_vars without web_config)."""
    branding, counselling = tenant["branding"], tenant["counselling"]
    return {
        "name": tenant["name"],
        "topics": list(counselling["topics"]),
        "opening_hours": counselling["opening_hours"],
        "absence_message": counselling["absence_message"],
        "colors": {"primary": branding["primary_color"], "secondary": branding["secondary_color"]},
        "logo": None,  # branding.logo is a file next to tenants.yaml; shipping it is h16-webkit's part
        "imprint_url": branding["imprint_url"],
        "privacy_url": branding["privacy_url"],
        "terms_url": branding.get("terms_url"),
        "quick_exit_url": layout.WEBAPP_QUICK_EXIT_URL,
        "consent_version": consent_version(branding),
    }
