"""``lab_up`` and ``lab_down``: bring the whole lab up or take all of it down.

The state file is written as soon as anything exists and updated after each
step, so ``lab down`` (or the automatic cleanup after a failed ``up``) knows
exactly which processes, namespaces and links this lab created.
"""

from __future__ import annotations

import fcntl
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from counselkit.lab import (
    addresses,
    hosts,
    image,
    network,
    prereqs,
    services,
    settings,
    ssh,
)
from counselkit.lab.console import say
from counselkit.lab.errors import LabError
from counselkit.lab.processes import (
    LabProcess,
    is_running,
    send_signal,
    stop,
    wait_gone,
)
from counselkit.lab.state import LabHost, LabState, load_state, remove_state, save_state
from counselkit.lab.status import format_status, is_healthy


@contextmanager
def _lab_lock() -> Iterator[None]:
    # One lab per machine: a second `up`/`down` waits for the first to finish.
    settings.STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(settings.LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _planned_hosts(count: int) -> list[LabHost]:
    planned = []
    for index in range(1, count + 1):
        name = addresses.host_name(index)
        planned.append(LabHost(
            name=name,
            address=addresses.host_address(index),
            control_address=addresses.control_address(index),
            ssh_key_path=settings.SSH_KEY,
            known_hosts_path=settings.KNOWN_HOSTS,
            netns=addresses.netns_name(name),
            veth=addresses.veth_name(name),
            root_path=settings.HOSTS_DIR / name / "root",
        ))
    return planned


def _prepare_root(image_root: Path, host: LabHost) -> None:
    hosts.copy_root(image_root, host.root_path)
    hosts.personalise_root(host.root_path, host.name, host.address)


def _start(state: LabState, image_root: Path) -> None:
    """Every step of ``up`` after the state file exists; records as it goes."""
    network.add_service_address()
    state.service_address = settings.SERVICE_ADDRESS
    save_state(state)

    proxy = services.start_proxy(settings.RUN_DIR / "tinyproxy.conf", settings.LOG_DIR / "proxy.log")
    state.processes.append(proxy)
    s3 = services.start_s3(settings.LOG_DIR / "s3.log")
    state.processes.append(s3)
    state.s3 = services.new_s3_settings()
    smtp = services.start_smtp_sink(settings.SMTP_SINK_DIR, settings.LOG_DIR / "smtp.log")
    state.processes.append(smtp)
    save_state(state)

    say(f"copying the image for {', '.join(h.name for h in state.hosts)}")
    with ThreadPoolExecutor(max_workers=len(state.hosts)) as pool:
        list(pool.map(lambda h: _prepare_root(image_root, h), state.hosts))
    ssh.write_known_hosts([line for h in state.hosts
                           for line in ssh.known_hosts_lines(h.name, h.address, h.root_path)])

    for host in state.hosts:
        network.create_host_link(host.netns, host.veth, host.control_address, host.address)
        state.processes.append(hosts.boot(host, settings.LOG_DIR / f"{host.name}.log"))
        save_state(state)
    say("booting hosts")

    services.wait_listening(proxy, settings.PROXY_PORT)
    state.proxy_url = addresses.proxy_url()
    services.wait_listening(s3, settings.S3_PORT)
    services.wait_listening(smtp, settings.SMTP_SINK_PORT)
    state.smtp_sink = services.smtp_sink_info()
    save_state(state)

    def ready(host: LabHost) -> str:
        nspawn = state.process(f"host:{host.name}")
        assert nspawn is not None
        return hosts.wait_ready(host, nspawn)

    with ThreadPoolExecutor(max_workers=len(state.hosts)) as pool:
        readiness = list(pool.map(ready, state.hosts))
    for host, answer in zip(state.hosts, readiness):
        say(f"{host.name} is up ({answer}) at {host.address}")
        nspawn = state.process(f"host:{host.name}")
        init = hosts.container_init(host, nspawn) if nspawn else None
        if init:
            state.processes.append(init)
    state.phase = "up"
    save_state(state)


def lab_up(hosts: int = 1) -> LabState:
    """Bring up ``hosts`` lab hosts plus proxy, S3 and the SMTP sink; no-op if already up and healthy."""
    prereqs.require_root()
    if not 1 <= hosts <= settings.MAX_HOSTS:
        raise LabError(f"--hosts must be between 1 and {settings.MAX_HOSTS}, not {hosts}")
    with _lab_lock():
        existing = load_state()
        if existing is not None:
            if is_healthy(existing):
                if len(existing.hosts) < hosts:
                    raise LabError(f"the lab is already up with {len(existing.hosts)} host(s); "
                                   f"run `counselkit lab down` before asking for {hosts}")
                # More hosts than asked for serve too: suites that need two share a lab with those that need four.
                say("the lab is already up")
                return existing
            say("found a lab that is not (fully) up; taking it down first")
            _take_down(existing)
        _sweep_leftover_links()
        prereqs.ensure_prerequisites()
        started = time.monotonic()
        for directory in (settings.LOG_DIR, settings.RUN_DIR, settings.HOSTS_DIR):
            directory.mkdir(parents=True, exist_ok=True)
        image_root = image.ensure_image(settings.LOG_DIR / "image-build.log")
        ssh.ensure_lab_key()
        state = LabState(
            hosts=_planned_hosts(hosts),
            state_dir=settings.STATE_DIR,
            image_dir=image_root.parent,
            created_netns_mount=not network.netns_dir_is_mounted(),
        )
        save_state(state)
        try:
            _start(state, image_root)
        except BaseException:
            say(f"lab up failed; cleaning up what was started (logs stay in {settings.LOG_DIR})")
            _take_down(state)
            raise
        say(f"lab up in {time.monotonic() - started:.1f} s")
        return state


def _container_inits(state: LabState) -> list[LabProcess]:
    """Recorded container inits, plus any not yet recorded (a failed ``up``)."""
    inits = {p.role: p for p in state.processes if p.role.startswith("init:")}
    for host in state.hosts:
        nspawn = state.process(f"host:{host.name}")
        if f"init:{host.name}" not in inits and nspawn and is_running(nspawn):
            found = hosts.container_init(host, nspawn)
            if found:
                inits[found.role] = found
    return list(inits.values())


def _stop_hosts(state: LabState) -> None:
    nspawns = [p for p in state.processes if p.role.startswith("host:")]
    # Found before nspawn goes: if nspawn is killed, its container's init would
    # be re-parented and keep running, so it must be killed by its own PID.
    inits = _container_inits(state)
    # A container still booting may miss the shutdown request; after a failed
    # `up` do not wait the full grace period for it.
    grace = settings.SHUTDOWN_TIMEOUT if state.phase == "up" else settings.SHUTDOWN_TIMEOUT_BOOTING
    # SIGTERM makes nspawn ask the container's systemd for an orderly poweroff.
    for proc in nspawns:
        send_signal(proc, signal.SIGTERM)
    for proc in nspawns:
        if not wait_gone(proc, grace):
            say(f"{proc.role} did not shut down in {grace} s; killing it")
    # Killing a PID namespace's init kills everything in that container; nspawn
    # then exits by itself.
    for proc in inits:
        stop(proc, 5, signal.SIGKILL)
    for proc in nspawns:
        stop(proc, 5, signal.SIGKILL)
    state.processes += [p for p in inits if p not in state.processes]


def _unmount_under(path: Path) -> None:
    # nspawn mounts in its own namespace, so normally there is nothing here;
    # this only guards against a crashed run that left a mount behind.
    for point in sorted(network.mount_points(), reverse=True):
        if point == str(path) or point.startswith(f"{path}/"):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _sweep_leftover_links() -> None:
    """Remove namespaces/veths named by the lab's scheme that no state records.

    Safe because these names are the lab's own (ck-node<i>, ckv-node<i>);
    processes, in contrast, are only ever stopped by recorded PID.
    """
    names = set()
    if settings.NETNS_DIR.is_dir():
        names |= {p.name[len(settings.NETNS_PREFIX):] for p in settings.NETNS_DIR.iterdir()
                  if p.name.startswith(settings.NETNS_PREFIX)}
    links = network.ip("-o", "link", "show").stdout
    for line in links.splitlines():
        ifname = line.split(":")[1].strip().split("@")[0]
        if ifname.startswith(settings.VETH_CONTROL_PREFIX):
            names.add(ifname[len(settings.VETH_CONTROL_PREFIX):])
    for name in sorted(names):
        try:
            addresses.host_index(name)
        except ValueError:
            continue
        network.remove_host_link(addresses.netns_name(name), addresses.veth_name(name))


def _take_down(state: LabState | None) -> None:
    if state is not None:
        _stop_hosts(state)
        for proc in state.processes:
            if not proc.role.startswith(("host:", "init:")):
                stop(proc, 5)
        for host in state.hosts:
            network.remove_host_link(host.netns, host.veth)
        if state.service_address:
            network.remove_service_address()
        if state.created_netns_mount:
            network.unmount_netns_dir_if_unused()
    _sweep_leftover_links()
    _unmount_under(settings.HOSTS_DIR)
    shutil.rmtree(settings.HOSTS_DIR, ignore_errors=True)
    shutil.rmtree(settings.RUN_DIR, ignore_errors=True)
    settings.KNOWN_HOSTS.unlink(missing_ok=True)
    survivors = [p for p in (state.processes if state else []) if is_running(p)]
    if survivors:
        # Keep the state so a later `down` can retry; say exactly what is left.
        save_state(state)  # type: ignore[arg-type]
        listed = ", ".join(f"{p.role} (pid {p.pid})" for p in survivors)
        raise LabError(f"could not stop: {listed}")
    remove_state()


def lab_down() -> None:
    """Stop everything the lab started and remove what it created; keep the image cache."""
    prereqs.require_root()
    with _lab_lock():
        state = load_state()
        if state is None:
            say("no lab state; removing any leftover lab namespaces and links")
        _take_down(state)
    say(f"lab is down (image cache kept in {settings.IMAGE_CACHE_DIR})")


def _stop_host(state: LabState, host: LabHost) -> None:
    """Shut one host down as `down` does (orderly poweroff, then its init by PID) and forget its processes."""
    own = [p for p in state.processes if p.role in (f"host:{host.name}", f"init:{host.name}")]
    alone = LabState(hosts=[host], state_dir=state.state_dir, image_dir=state.image_dir, phase=state.phase,
                     processes=own)
    _stop_hosts(alone)
    left = [p for p in alone.processes if is_running(p)]
    if left:
        raise LabError(f"{host.name}: could not stop " + ", ".join(f"{p.role} (pid {p.pid})" for p in left))
    state.processes = [p for p in state.processes if p not in alone.processes]


def lab_reset(name: str) -> LabHost:
    """Give one host of a running lab a fresh copy of the lab's image and boot it again: a suite starts from a bare
    host without taking the lab down for the suites on the other hosts. Name, address and SSH host keys stay
    (known_hosts, shared by every host, is not rewritten while others use it); everything installed on it, and its
    network namespace (firewall ruleset, sysctls), is made anew."""
    prereqs.require_root()
    with _lab_lock():
        state = load_state()
        if state is None or state.phase != "up":
            raise LabError("the lab is not up; run `counselkit lab up` first")
        host = state.host(name)
        image_root = (state.image_dir or image.image_dir()) / "root"  # the image this lab booted from, never a rebuild
        if not (image_root / "usr/bin/systemctl").exists():
            raise LabError(f"the lab's image {image_root} is gone; run `counselkit lab down` and `lab up`")
        started = time.monotonic()
        keys = {p.name: p.read_bytes() for p in (host.root_path / "etc/ssh").glob("ssh_host_*")}
        _stop_host(state, host)
        save_state(state)
        # A fresh network namespace too: the old one keeps the nftables ruleset and net.* sysctls the host set.
        network.remove_host_link(host.netns, host.veth)
        network.create_host_link(host.netns, host.veth, host.control_address, host.address)
        _unmount_under(host.root_path)
        _prepare_root(image_root, host)
        for stale in (host.root_path / "etc/ssh").glob("ssh_host_*"):
            stale.unlink()
        for key_name, content in keys.items():
            key = host.root_path / "etc/ssh" / key_name
            key.write_bytes(content)
            key.chmod(0o644 if key_name.endswith(".pub") else 0o600)
        nspawn = hosts.boot(host, settings.LOG_DIR / f"{host.name}.log")
        state.processes.append(nspawn)
        save_state(state)
        answer = hosts.wait_ready(host, nspawn)
        init = hosts.container_init(host, nspawn)
        if init:
            state.processes.append(init)
        save_state(state)
        say(f"{host.name} reset in {time.monotonic() - started:.1f} s ({answer})")
        return host


def lab_status() -> str:
    prereqs.require_root()
    return format_status(load_state())


__all__ = ["lab_down", "lab_status", "lab_up"]
