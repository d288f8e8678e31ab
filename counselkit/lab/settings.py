"""Every lab constant in one place: paths, address scheme, ports, image recipe.

Other lab modules import from here; nothing here is computed from the
environment except where a test or bench needs to relocate the lab (the
``COUNSELKIT_LAB_*`` overrides are deliberately few).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

# --- where things live --------------------------------------------------------

#: Image cache; one sub-directory per recipe hash. Survives ``lab down``.
IMAGE_CACHE_DIR = Path("/var/cache/counselkit/lab-image")
#: Runtime state: host roots, configs, logs, the state file.
STATE_DIR = Path("/var/lib/counselkit/lab")
STATE_FILE = STATE_DIR / "state.json"
LOCK_FILE = STATE_DIR / "lab.lock"
HOSTS_DIR = STATE_DIR / "hosts"
LOG_DIR = STATE_DIR / "logs"
RUN_DIR = STATE_DIR / "run"  # per-``up`` config files (proxy config, ...)
#: The SMTP sink's received messages, one ``.eml`` file each; emptied on every ``lab up``.
SMTP_SINK_DIR = STATE_DIR / "mail"
#: The lab SSH key pair is kept across ``lab down`` so agents/configs that
#: point at it keep working; it grants access to lab hosts only.
SSH_DIR = STATE_DIR / "ssh"
SSH_KEY = SSH_DIR / "id_ed25519"
KNOWN_HOSTS = SSH_DIR / "known_hosts"

NETNS_DIR = Path("/run/netns")

# --- hosts and addresses --------------------------------------------------------

HOST_PREFIX = "node"  # node1 .. nodeN
MAX_HOSTS = 50
#: 10.248.0.0/16: 10.248.<i>.0/24 is host i's veth link (control .1, host .2);
#: 10.248.0.1 is the control-side service address (proxy, S3, SMTP sink) on ``lo``.
LAB_NET = ipaddress.ip_network("10.248.0.0/16")
SERVICE_ADDRESS = "10.248.0.1"
SERVICE_LABEL = "lo:cklab"  # label on the service address, to find it again
LINK_PREFIXLEN = 24
NETNS_PREFIX = "ck-"  # netns ck-node1
VETH_CONTROL_PREFIX = "ckv-"  # control-side veth ckv-node1 (<= 15 chars)
HOST_IFACE = "host0"  # host-side veth name inside the namespace, as nspawn would name it

SSH_PORT = 22
SSH_USER = "root"

# --- control-side services ------------------------------------------------------------

PROXY_PORT = 8888
S3_PORT = 9000
S3_REGION = "eu-central-1"
#: The SMTP sink (the platform relay of lab tenants): plain SMTP, no AUTH, on the service address.
SMTP_SINK_PORT = 2525
SMTP_SINK_MAX_MESSAGE_BYTES = 10 * 1024 * 1024

# --- timeouts (seconds) --------------------------------------------------------------

BOOT_TIMEOUT = 180
SERVICE_START_TIMEOUT = 60
SHUTDOWN_TIMEOUT = 30
SHUTDOWN_TIMEOUT_BOOTING = 5  # after a failed `up`, hosts may still be booting

# --- image recipe ---------------------------------------------------------------------
# Changing anything in this block (or IMAGE_SETUP_SCRIPT in image.py, or the
# control machine's CA files) changes the recipe hash and rebuilds the image.

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
DEBOOTSTRAP_VARIANT = "minbase"
#: Minimal but Debian-like; the deploys install the rest.
IMAGE_PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-systemd",
    "openssh-server",
    "python3",
    "sudo",
    "ca-certificates",
    "iproute2",
    "procps",
    "apt-utils",
    "less",
    "netbase",
)
#: Control-machine CA trust copied into the image (TLS through the proxy).
CONTROL_CA_DIR = Path("/usr/local/share/ca-certificates")

# --- control-machine prerequisites: command -> Debian package -----------------------

PREREQUISITE_COMMANDS: dict[str, str] = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "tinyproxy": "tinyproxy-bin",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
}
#: Python module needed for the S3 server -> pip requirement.
S3_SERVER_REQUIREMENT = "moto[server]"
#: Python module needed for the SMTP sink -> pip requirement.
SMTP_SINK_REQUIREMENT = "aiosmtpd"
