"""Checks of nftables firewall and listening sockets."""

from __future__ import annotations

import json
from typing import Any

from ..context import CheckContext, Finding, failed, is_loopback, verdict
from .registry import check


def _nft_chains(ruleset: list[dict[str, Any]]) -> tuple[dict[tuple[str, str, str], dict[str, Any]],
                                                        dict[tuple[str, str, str], list[list[dict[str, Any]]]]]:
    chains, rules = {}, {}
    for item in ruleset:
        if "chain" in item:
            c = item["chain"]
            chains[(c["family"], c["table"], c["name"])] = c
        elif "rule" in item:
            r = item["rule"]
            rules.setdefault((r["family"], r["table"], r["chain"]), []).append(r.get("expr", []))
    return chains, rules


def _ports(right: Any) -> set[int] | None:
    if isinstance(right, int):
        return {right}
    if isinstance(right, str) and right.isdigit():
        return {int(right)}
    if isinstance(right, dict) and "set" in right:
        out: set[int] = set()
        for item in right["set"]:
            sub = _ports(item)
            if sub is None:
                return None
            out |= sub
        return out
    if isinstance(right, dict) and "range" in right:
        low, high = right["range"]
        return set(range(int(low), int(high) + 1))
    if isinstance(right, list):
        return _ports({"set": right})
    return None


def _classify_accept(expr: list[dict[str, Any]]) -> tuple[str, set[int]]:
    """What an accepting rule lets in: loopback, established, icmp, tcp ports, or something else."""
    kinds: list[str] = []
    ports: set[int] = set()
    for e in expr:
        match = e.get("match")
        if not match:
            continue
        left, right = match.get("left", {}), match.get("right")
        if "meta" in left and left["meta"].get("key") in {"iif", "iifname"}:
            kinds.append("loopback" if right == "lo" else f"interface {right}")
        elif "ct" in left and left["ct"].get("key") == "state":
            states = right if isinstance(right, list) else [right]
            if set(states) <= {"new"}:
                continue  # narrows a port rule to new connections; admits nothing by itself
            kinds.append("established" if set(states) <= {"established", "related"} else f"ct state {states}")
        elif "payload" in left and left["payload"].get("field") == "dport":
            proto = left["payload"].get("protocol")
            found = _ports(right)
            if proto == "tcp" and found is not None:
                kinds.append("tcp")
                ports |= found
            else:
                kinds.append(f"{proto} dport {right}")
        elif ("payload" in left and left["payload"].get("protocol") in {"icmp", "icmpv6"}) or \
                ("meta" in left and left["meta"].get("key") == "l4proto" and
                 (right in {"icmp", "ipv6-icmp", "icmpv6"} or (isinstance(right, dict) and "set" in right and
                  set(right["set"]) <= {"icmp", "ipv6-icmp", "icmpv6"}))):
            kinds.append("icmp")
        elif "meta" in left and left["meta"].get("key") in {"l4proto", "nfproto", "protocol"}:
            continue  # narrows further matches; harmless on its own
    if not kinds:
        return "everything", set()
    for preferred in ("loopback", "established", "icmp", "tcp"):
        if preferred in kinds and all(k in {preferred, "tcp", "icmp"} or k == preferred for k in kinds):
            return preferred, ports
    return "; ".join(kinds), ports


@check("firewall_default_deny", "nftables: an input chain with policy drop admits only loopback, replies and TCP 22/80/443")
def firewall_default_deny(ctx: CheckContext) -> Finding:
    public = set(ctx.plan.public_tcp_ports)
    expected = (f"an inet (or ip+ip6) filter input chain with policy drop; accepts only iif lo, ct established/related, "
                f"ICMP and tcp dport ⊆ {sorted(public)}")
    result = ctx.run("nft", "-j", "list", "ruleset")
    if result.rc != 0:
        return failed(expected, f"`nft list ruleset` failed: {(result.stderr or 'nft not installed').strip()[:300]}")
    try:
        ruleset = json.loads(result.stdout or "{}").get("nftables", [])
    except json.JSONDecodeError:
        return Finding("error", expected, result.stdout[:300], "nft printed no JSON")
    chains, rules = _nft_chains(ruleset)
    drop_inputs = [k for k, c in chains.items() if c.get("hook") == "input" and c.get("policy") == "drop"
                   and c.get("type", "filter") == "filter"]
    if not drop_inputs:
        hooks = [f"{k[0]} {k[1]} {k[2]} policy {c.get('policy')}" for k, c in chains.items() if c.get("hook") == "input"]
        return failed(expected, "no input chain with policy drop" + (f"; input chains: {'; '.join(hooks)}" if hooks else
                                                                      "; the ruleset is empty"))
    families = {k[0] for k in drop_inputs}
    problems = []
    if "inet" not in families and not {"ip", "ip6"} <= families:
        problems.append(f"default deny only for {', '.join(sorted(families))}: the other IP version is unfiltered")
    seen: set[str] = set()
    accepted_ports: set[int] = set()

    def walk(key: tuple[str, str, str], depth: int = 0) -> None:
        for expr in rules.get(key, []):
            verbs = [next(iter(e)) for e in expr if isinstance(e, dict)]
            jump = next((e.get("jump") or e.get("goto") for e in expr if "jump" in e or "goto" in e), None)
            if jump and depth < 5:
                walk((key[0], key[1], jump["target"]), depth + 1)
            if "accept" not in verbs:
                continue
            kind, ports = _classify_accept(expr)
            seen.add(kind)
            accepted_ports.update(ports)
            if kind not in {"loopback", "established", "icmp", "tcp"}:
                problems.append(f"{key[0]} {key[1]} {key[2]}: accepts {kind}")

    for key in drop_inputs:
        walk(key)
    extra = accepted_ports - public
    if extra:
        problems.append(f"tcp ports open beyond the plan: {sorted(extra)}")
    for needed in ("loopback", "established"):
        if needed not in seen:
            problems.append(f"no rule accepting {needed} traffic")
    if 22 not in accepted_ports:
        problems.append("tcp 22 not accepted (admins would be locked out)")
    return verdict(problems, expected, f"policy drop on {', '.join(' '.join(k) for k in drop_inputs)}; accepted: "
                                       f"{', '.join(sorted(seen))}; tcp ports {sorted(accepted_ports)}")


@check("listeners_public_only", "ss: only the public TCP ports listen beyond loopback; no UDP beyond loopback")
def listeners_public_only(ctx: CheckContext) -> Finding:
    public = set(ctx.plan.public_tcp_ports)
    expected = f"non-loopback listeners only on tcp {sorted(public)}"
    listeners = ctx.listeners
    if listeners is None:
        return Finding("error", expected, "`ss` failed", "could not list sockets")
    problems = [f"{proto} {addr}:{port} {proc}" for proto, addr, port, proc in listeners
                if not is_loopback(addr) and not (proto == "tcp" and port in public)]
    shown = "\n".join(f"{p} {a}:{n} {proc}" for p, a, n, proc in listeners)
    return verdict(["listening beyond loopback: " + "; ".join(problems)] if problems else [], expected, shown)
