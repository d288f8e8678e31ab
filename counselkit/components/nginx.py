"""nginx as a component spec (deploy/nginx.py and roles/nginx loop over it).

Packages (certbot only with tls: acme), directories (ACME webroot, TLS directories of the internal CA, web roots),
the host-wide files and each tenant's web app page, config and vhost, the reload (``nginx -t`` first, once every
file is written) and the unit. What is not a template — the internal CA's certificate and the tenants'
certificates and keys (cut from secrets on the control machine), Debian's stock site (a symlink), certbot's first
certificate and the web app's bundle (built on the control machine, copied as it is) — is listed in ``layout``
below and stays code in each engine, looping over those lists.
"""

from __future__ import annotations

import posixpath
from typing import Any

from counselkit import layout, render

from . import Component, Directory, File, Handler, Service

RELOAD = "Reload nginx"
UPDATE_CA = "Update CA certificates"

HANDLERS = (
    Handler(UPDATE_CA, argv=("update-ca-certificates",)),
    Handler(RELOAD, unit=layout.NGINX_UNIT, action="reloaded", check=("nginx", "-t", "-q")),
)
_HOST_FILES: dict[str, dict[str, Any]] = {
    "nginx/nginx.conf.j2": {"handler": RELOAD},
    "nginx/security-headers.conf.j2": {"handler": RELOAD},
    "nginx/default.conf.j2": {"handler": RELOAD},
    "nginx/logrotate.j2": {},  # read by logrotate's daily run, nothing to reload
}
# per-tenant template -> (key of its destination in the tenant's vars, options)
_TENANT_FILES: dict[str, tuple[str, dict[str, Any]]] = {
    "web/index.html.j2": ("index_html", {}),
    "web/config.json.j2": ("config_json", {}),  # the web app's per-centre config (counselkit/webapp/config.py)
    "nginx/tenant.conf.j2": ("site", {"handler": RELOAD}),
}
CERT_MODE = "0644"
KEY_MODE = "0600"
TLS_DIR_MODE = "0700"


def packages(tls: str) -> tuple[str, ...]:
    return ("nginx", "certbot") if tls == "acme" else ("nginx",)


def certbot_argv(email: str, domain: str) -> list[str]:
    """certbot --webroot for one domain, once; renewals are certbot's own timer (reloading nginx by deploy hook)."""
    return ["certbot", "certonly", "--non-interactive", "--agree-tos", "--email", email, "--webroot",
            "-w", layout.ACME_WEBROOT, "-d", domain, "--key-type", "ecdsa",
            "--deploy-hook", f"systemctl reload {layout.NGINX_UNIT}"]


def _directories(vars: dict[str, Any]) -> list[Directory]:
    internal = vars["platform"]["tls"] == "internal"
    found = [Directory(layout.ACME_WEBROOT)]
    if internal:
        found.append(Directory(layout.TLS_DIR, mode=TLS_DIR_MODE))
        found += [Directory(posixpath.dirname(t["tls"]["cert"]), mode=TLS_DIR_MODE) for t in vars["tenants"]]
    # the web roots' parent (root 0755, as mkdir -p makes it), then each tenant's
    found += [Directory(p) for p in sorted({posixpath.dirname(t["web_root"]) for t in vars["tenants"]})]
    found += [Directory(t["web_root"]) for t in vars["tenants"]]
    found += [Directory(posixpath.dirname(t["logo"]["dest"])) for t in vars["tenants"] if t["logo"]]
    return found


def _files(vars: dict[str, Any]) -> list[File]:
    found = [File(template=name, dest=render.HOST_TEMPLATES[name], **options) for name, options in _HOST_FILES.items()]
    for tenant in vars["tenants"]:
        found += [File(template=name, dest=tenant[key], tenant=tenant["slug"], **options)
                  for name, (key, options) in _TENANT_FILES.items()]
    return found


def _certificates(vars: dict[str, Any]) -> dict[str, Any]:
    """The files cut from secrets (PEM bundles: key first, then certificate) and certbot's first certificates."""
    platform = vars["platform"]
    if platform["tls"] != "internal":
        acme = [{"tenant": t["slug"], "cert": t["tls"]["cert"], "argv": certbot_argv(platform["acme_email"], t["domain"])}
                for t in vars["tenants"]]
        return {"ca_certificate": None, "certificates": [], "acme": acme}
    # the CA certificate is public, but cut from the bundle that holds the CA's private key: sensitive all the same
    ca = {"ref": vars["platform_secrets"]["internal_ca"], "part": 1, "dest": layout.INTERNAL_CA_CERT,
          "mode": CERT_MODE, "handler": UPDATE_CA}
    certificates = []
    for t in vars["tenants"]:
        certificates += [{"ref": t["tls_ref"], "part": 1, "dest": t["tls"]["cert"], "mode": CERT_MODE, "handler": RELOAD},
                         {"ref": t["tls_ref"], "part": 0, "dest": t["tls"]["key"], "mode": KEY_MODE, "handler": RELOAD}]
    return {"ca_certificate": ca, "certificates": certificates, "acme": []}


def webapp_bundle(vars: dict[str, Any]) -> list[dict[str, Any]]:
    """The web app's bundle (built on the control machine by `counselkit webapp build`), copied as it is into each
    tenant's web root next to its index.html and config.json, and the centres' logos: [{tenant, src (control
    machine), dest, mode}]."""
    from counselkit.webapp.build import OUTPUT

    found = [{"tenant": t["slug"], "src": str(OUTPUT / name), "dest": f"{t['web_root']}/{name}", "mode": "0644"}
             for t in vars["tenants"] for name in layout.WEBAPP_BUNDLE + layout.WEBAPP_PRECOMPRESSED]
    # and each centre's logo (tenants.yaml branding.logo, next to it on the control machine), where config.json
    # points the app (layout.webapp_logo_path)
    return found + [{"tenant": t["slug"], "src": t["logo"]["src"], "dest": t["logo"]["dest"], "mode": "0644"}
                    for t in vars["tenants"] if t["logo"]]


def nginx(vars: dict[str, Any]) -> Component:
    """The web front of one host (vars: counselkit.render.host_vars of it)."""
    tls = _certificates(vars)
    refs = ([tls["ca_certificate"]["ref"]] if tls["ca_certificate"] else []) + \
        sorted({c["ref"] for c in tls["certificates"]})
    return Component(
        name="nginx",
        packages=packages(vars["platform"]["tls"]),
        directories=tuple(_directories(vars)),
        files=tuple(_files(vars)),
        handlers=HANDLERS,
        services=(Service(layout.NGINX_UNIT),),
        # Debian's stock site is a symlink (removed: a change reloads nginx)
        layout={"stock_site": {"path": layout.NGINX_DEFAULT_SITE, "handler": RELOAD}, **tls,
                "webapp": webapp_bundle(vars)},
        secrets=tuple(refs),
    )


def components(vars: dict[str, Any]) -> dict[str, Component]:
    return {"nginx": nginx(vars)}
