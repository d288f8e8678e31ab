"""nginx: one TLS vhost per tenant (ACME or the internal CA), a catch-all that answers nothing, no version leak.

Packages, directories, files (host-wide and per tenant), the reload (nginx -t first) and the unit come from the
component spec (counselkit/components/nginx.py), which roles/nginx loops over too. The certificates cut from
secrets, Debian's stock site and certbot's first certificate are code, looping over the spec's lists.
"""

from __future__ import annotations

import os
import shlex

from pyinfra import host
from pyinfra.api import DeployError, deploy, operation
from pyinfra.facts.files import File
from pyinfra.operations import files

from counselkit.components import nginx as nginx_spec
from counselkit.tls import split_bundle
from counselkit.webapp.build import missing_files

from .common import host_vars, in_container, put, secret
from .components import install_directories, install_packages, install_services, put_files, run_handlers


@operation()
def acme_certificate(argv: list[str], cert_path: str):
    """certbot (counselkit.components.nginx.certbot_argv) once, while the certificate is missing."""
    if host.get_fact(File, path=cert_path):
        host.noop(f"certificate {cert_path} exists")
        return
    yield shlex.join(argv)


def _webapp_bundle(entries: list[dict]) -> None:
    """The web app's bundle, built on the control machine (`counselkit webapp build`), copied into each web root."""
    missing = missing_files([e["src"] for e in entries])
    if missing:
        raise DeployError(f"the web app's bundle is missing ({', '.join(missing)}): run `counselkit webapp build`")
    for entry in entries:
        files.put(name=f"[{entry['tenant']}] Web app {os.path.basename(entry['dest'])}", src=entry["src"],
                  dest=entry["dest"], user="root", group="root", mode=entry["mode"])


def _from_secret(entry: dict, what: str):
    """A certificate or key cut from a PEM bundle in the secrets file (key first, then certificate)."""
    content = split_bundle(secret(entry["ref"]))[entry["part"]]
    return put(f"{what} {entry['dest']}", entry["dest"], content, mode=entry["mode"])


@deploy("counselkit: nginx")
def nginx() -> None:
    component = nginx_spec.nginx(host_vars())
    container = in_container()
    install_packages(component)
    install_directories(component)  # ACME webroot, TLS directories, web roots
    changed: dict[str, list] = {}
    stock = component.layout["stock_site"]
    changed.setdefault(stock["handler"], []).append(
        files.link(name="No stock default site", path=stock["path"], present=False))
    ca = component.layout["ca_certificate"]
    if ca:
        changed.setdefault(ca["handler"], []).append(_from_secret(ca, "Internal CA certificate (trusted on the host)"))
    for entry in component.layout["certificates"]:
        changed.setdefault(entry["handler"], []).append(_from_secret(entry, "TLS"))
    for entry in component.layout["acme"]:
        acme_certificate(name=f"[{entry['tenant']}] ACME certificate", argv=entry["argv"], cert_path=entry["cert"])
    put_files(component, container, changed)  # host-wide files, then each tenant's web app page, config, vhost
    _webapp_bundle(component.layout["webapp"])  # static files: nothing to reload
    run_handlers(component, changed, container)  # update-ca-certificates; nginx -t, then reload
    install_services(component, container)
