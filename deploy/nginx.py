"""nginx: one TLS vhost per tenant (ACME or the internal CA), a catch-all that answers nothing, no version leak."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from counselkit import layout, render
from counselkit.tls import split_bundle

from . import commands
from .common import context, directory, put, put_template, secret


@operation()
def acme_certificate(domain: str, email: str, cert_path: str):
    """certbot --webroot for `domain` once; renewals are certbot's own timer (reloading nginx via deploy hook)."""
    if host.get_fact(File, path=cert_path):
        host.noop(f"certificate for {domain} exists")
        return
    yield commands.certbot(email=email, domain=domain)


@deploy("counselkit: nginx")
def nginx() -> None:
    ctx = context()
    tls_mode = ctx["platform"]["tls"]
    packages = ["nginx"] + (["certbot"] if tls_mode == "acme" else [])
    apt.packages(name="nginx" + (" and certbot" if tls_mode == "acme" else ""), packages=packages, no_recommends=True)
    changed = []
    directory(name="ACME webroot", path=layout.ACME_WEBROOT, user="root", group="root", mode="755")
    changed.append(files.link(name="No stock default site", path=layout.NGINX_DEFAULT_SITE, present=False))
    for template in ("nginx/nginx.conf.j2", "nginx/security-headers.conf.j2", "nginx/default.conf.j2"):
        changed.append(put_template(template, render.HOST_TEMPLATES[template]))
    # Log rotation: read by logrotate's daily run, nothing to reload.
    put_template("nginx/logrotate.j2", layout.NGINX_LOGROTATE)

    if tls_mode == "internal":
        ca_cert = split_bundle(secret(ctx["platform_secrets"]["internal_ca"]))[1]
        ca = put("Internal CA certificate (trusted on the host)", layout.INTERNAL_CA_CERT, ca_cert)
        server.shell(name="update-ca-certificates", commands=["update-ca-certificates"], _if=ca.did_change)
        directory(name="TLS dir", path=layout.TLS_DIR, user="root", group="root", mode="700")

    for tenant in ctx["tenants"]:
        slug = tenant["slug"]
        if tls_mode == "internal":
            key_pem, cert_pem = split_bundle(secret(tenant["tls_ref"]))
            directory(name=f"[{slug}] TLS dir", path=tenant["tls"]["cert"].rsplit("/", 1)[0], user="root",
                      group="root", mode="700")
            changed.append(put(f"[{slug}] TLS certificate", tenant["tls"]["cert"], cert_pem))
            changed.append(put(f"[{slug}] TLS key", tenant["tls"]["key"], key_pem, mode="600"))
        else:
            acme_certificate(name=f"[{slug}] ACME certificate", domain=tenant["domain"],
                             email=ctx["platform"]["acme_email"], cert_path=tenant["tls"]["cert"])
        tenant_files = render.render_tenant_files(ctx, slug)
        directory(name=f"[{slug}] web root", path=tenant["web_root"], user="root", group="root", mode="755")
        put(f"[{slug}] landing page", tenant["index_html"], tenant_files[tenant["index_html"]])
        changed.append(put(f"[{slug}] vhost", tenant["site"], tenant_files[tenant["site"]]))

    server.shell(name="nginx -t", commands=["nginx -t -q"], _if=any_changed(*changed))
    systemd.service(name="nginx running", service="nginx.service", running=True, enabled=True)
    systemd.service(name="Reload nginx", service="nginx.service", reloaded=True, _if=any_changed(*changed))
