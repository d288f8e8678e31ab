"""Hostile values in every string field of every template's context: the rendered file keeps its structure.

For every template under templates/ and every string that reaches its context (tenants.yaml, plan, lock, layout),
the value is extended with hostile text (line breaks of every kind, NUL, ESC, quotes, `;`, braces, `$`, backticks,
`%`, comment ends, HTML ...) and the rendered file is parsed with the parser of its syntax: nginx -t and a port of
nginx's tokenizer, PyYAML (Synapse's loader), systemd-analyze verify and systemd's line rules, bash itself, tinycss2,
Python's HTML parser, apt-config, configparser (pip's parser), nft -c, and line-based formats split the way their
daemons split lines. The structure (directives, keys, statements, variables) must equal that of the benign render,
and the value must come back intact where it is a value. A filter may refuse a value (counselkit.escape.UnsafeValue)
only for a character of the hostile part: then nothing would be written.

The nginx binary comes from Debian's package, unpacked by `scripts/counselkit test-tools` into .cache/nginx
(no service is installed or started on the control machine).
"""

from __future__ import annotations

import configparser
import dataclasses
import email.header
import email.utils
import functools
import html.parser
import itertools
import json
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pglast
import pytest
import tinycss2
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from counselkit import escape, render
from counselkit.backup import render as backup_render
from counselkit.backup.jobs import host_jobs
from counselkit.keycloak import render as keycloak_render
from counselkit.plan import load_plan
from tests.support import REPO, example_data, tenant_entry, write_yaml

NGINX = REPO / ".cache" / "nginx" / "usr" / "sbin" / "nginx"  # = scripts/counselkit test-tools
NGINX_ETC = REPO / ".cache" / "nginx" / "etc" / "nginx"

HOSTILE = [
    "\n", "\r", "\u2028", "\u2029", "\x85", "\0", "\x1b[2J", "\x0c", "\t", " ", '"', "'", "\\", "\\\n",
    ";", "{", "}", "$", "${x}", "$(id)", "`id`", "%", "%i%n%%", "#", "*/", "/*", "-->", "</style>",
    "<script>alert(1)</script>", "\ufeff", "\u202e", "\U0001f600",
    "\nlisten 8080;\n\taccess_log /tmp/x;", "\nfoo: bar", "\r\n[Service]\nExecStartPre=/bin/sh",
    "'; DROP TABLE x; --", '"; }\nbody { color: red', "\\u0027\\\\", "=x",
]
# Hypothesis draws from these characters (and a few ordinary ones, so values also look like real names).
ALPHABET = sorted(set("".join(HOSTILE)) | set("aZ09-_.@/:"))
MARKER = "zq9"  # appended to find which fields a template uses: plain enough for every filter


@dataclass(frozen=True, eq=False)  # hashed by identity: cases() makes each once
class Case:
    template: str  # path under templates/
    syntax: str
    context: dict[str, Any]


def _plain(value: Any) -> Any:
    """Contexts as JSON-like data (backup jobs are dataclasses; Ansible passes them as dicts)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def syntax_of(template: str) -> str:
    name = template.rsplit("/", 1)[-1]
    if name == "logrotate.j2":
        return "lines"
    if name == "msmtprc.j2":
        return "msmtp"
    if template.startswith("nginx/"):
        return "nginx"
    if name.endswith((".yaml.j2", "log.config.j2")):
        return "yaml"
    if name.endswith((".service.j2", ".timer.j2")):
        return "systemd"
    if name.endswith((".sh.j2", "job.conf.j2", "restic.env.j2")):
        return "shell"
    if name.endswith(".css.j2"):
        return "css"
    if name.endswith(".html.j2"):
        return "html"
    if name.endswith(".json.j2"):
        return "json"
    if name in ("apt-proxy.conf.j2", "auto-upgrades.j2", "unattended-upgrades.j2"):
        return "apt"
    if name in ("pip.conf.j2", "fail2ban-jail.conf.j2"):
        return "ini"
    if name == "nftables.conf.j2":
        return "nft"
    if name in ("issue.j2", "issue.net.j2"):
        return "issue"
    if name in ("keycloak.conf.j2", "theme.properties.j2", "keycloak.env.j2", "keycloak-bootstrap.env.j2"):
        return "properties"  # Java properties / EnvironmentFile: \r and \n both end a line
    return "lines"


@functools.cache
def cases() -> tuple[Case, ...]:
    tmp = Path(__import__("tempfile").mkdtemp(prefix="ck-inject-"))
    data = example_data()
    data["platform"]["proxy"] = "http://10.248.0.1:8888"
    data["platform"]["admin_networks"] = ["192.0.2.0/24"]
    data["platform"].setdefault("artifacts", {})["keycloak"] = {
        "version": "26.0.7", "url": "https://example.org/keycloak-26.0.7.tar.gz", "sha256": "0" * 64}
    # The report-mail templates are written too; a relay by address also gives Synapse its email section (notices).
    data["platform"]["smtp"] = {"host": "192.0.2.25", "from_address": "hosts@example.org", "user": "relay",
                                "from_name": "Beratung Nord", "reports_to": "ops@example.org"}
    data["tenants"].append(tenant_entry("caritas-flensburg", federation=True,
                                        federation_domains=["beratung.partner.example"]))
    plan = load_plan(write_yaml(tmp / "tenants.yaml", data))
    host = plan.hosts[0].name
    context = render.host_context(render.host_vars(plan, host), lambda ref: f"secret-{ref}")
    out: list[Case] = []
    for name in render.HOST_TEMPLATES:
        out.append(Case(name, syntax_of(name), context))
    for name in render.TENANT_TEMPLATES:
        for slug in ("caritas-flensburg",):  # federation on: every optional line of the tenant templates is there
            tenant_ctx = render.tenant_context(context, slug)
            # The homeserver's optional OIDC block (filled by the Keycloak seam), so its fields are covered too.
            tenant_ctx["tenant"] = {**tenant_ctx["tenant"], "oidc": {
                "idp_name": "Keycloak", "issuer": "https://x.example/realms/x", "client_secret": "s3cret"}}
            out.append(Case(name, syntax_of(name), tenant_ctx))
    credentials = backup_render.Credentials("AKIAEXAMPLE", "secret-key-example")
    common = backup_render.common_context(plan)
    for name in ("counselkit-backup.sh.j2", "counselkit-backup@.service.j2", "counselkit-backup@.timer.j2",
                 "egress-backup.nft.j2"):
        out.append(Case(f"backup/{name}", syntax_of(name), _plain(common)))
    for job in host_jobs(plan, host)[:1] + host_jobs(plan, host)[-1:]:  # a tenant job and the platform job
        job_ctx = _plain(backup_render.job_context(plan, job, credentials))
        for name in ("job.conf.j2", "restic.env.j2"):
            out.append(Case(f"backup/{name}", syntax_of(name), job_ctx))
    banner = {"managed_by": keycloak_render.MANAGED_BY}
    tenant = plan.tenant("awo-kiel")
    for name, ctx in (
        ("keycloak/keycloak.conf.j2", keycloak_render.conf_context(plan, "26.0.7")),
        ("keycloak/keycloak.service.j2", keycloak_render.unit_context("26.0.7")),
        ("keycloak/keycloak.env.j2", keycloak_render.env_context("dbpassword-example")),
        ("keycloak/keycloak-bootstrap.env.j2", keycloak_render.bootstrap_env_context("adminpassword-example")),
        ("keycloak/synapse-oidc.yaml.j2", keycloak_render.synapse_oidc_context(plan, tenant, "client-secret")),
        ("keycloak/theme/login/theme.properties.j2", keycloak_render.theme_context(tenant)),
        ("keycloak/theme/login/resources/css/counselkit.css.j2", keycloak_render.theme_context(tenant)),
    ):
        out.append(Case(name, syntax_of(name), {**banner, **_plain(ctx)}))
    return tuple(out)


# ---- context fields ---------------------------------------------------------------------------------------------

Path_ = tuple[Any, ...]


def string_fields(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from string_fields(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from string_fields(value, (*path, index))
    elif isinstance(node, str):
        yield path, node


def replaced(node: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: replaced(node[head], rest, value)}
    copy_ = list(node)
    copy_[head] = replaced(node[head], rest, value)
    return copy_


def render_case(case: Case, context: dict[str, Any]) -> str:
    return render.render(case.template, context)


@functools.cache
def used_fields(case: Case) -> tuple[tuple[Path_, str], ...]:
    """The string fields that change this template's output (a field only tested in an `if` changes nothing)."""
    benign = render_case(case, case.context)
    used = []
    for path, value in string_fields(case.context):
        try:
            changed = render_case(case, replaced(case.context, path, value + MARKER)) != benign
        except escape.UnsafeValue:
            changed = True
        if changed:
            used.append((path, value))
    return tuple(used)


# ---- parsers: each returns the file's structure as [(key, value)] -------------------------------------------------

Pairs = list[tuple[str, Any]]


def nginx_tokens(text: str) -> Pairs:
    """Directives as nginx reads them: a port of ngx_conf_read_token (src/core/ngx_conf_file.c, nginx 1.22)."""
    pairs: Pairs = []
    stack: list[str] = []
    words: list[str] = []
    i, n = 0, len(text)

    def unescape(raw: str) -> str:
        out, j = [], 0
        while j < len(raw):
            if raw[j] == "\\" and j + 1 < len(raw) and raw[j + 1] in "\"'\\tnr":
                out.append({"t": "\t", "n": "\n", "r": "\r"}.get(raw[j + 1], raw[j + 1]))
                j += 2
            else:
                out.append(raw[j])
                j += 1
        return "".join(out)

    def emit(kind: str) -> None:
        key = "/".join(stack + [words[0] if words else "?"])
        pairs.append((f"{key}{kind}", None))
        for k, arg in enumerate(words[1:]):
            pairs.append((f"{key}#{k}", arg))
        if kind == "{":
            stack.append(words[0])
        words.clear()

    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if ch == ";":
            assert words, f"unexpected ';' at {i}"
            emit(";")
            i += 1
            continue
        if ch == "{":
            assert words, f"unexpected '{{' at {i}"
            emit("{")
            i += 1
            continue
        if ch == "}":
            assert not words and stack, f"unexpected '}}' at {i}"
            stack.pop()
            pairs.append(("/".join(stack) + "}", None))
            i += 1
            continue
        if ch in "\"'":
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            assert j < n, "unterminated quote"
            words.append(unescape(text[i + 1:j]))
            i = j + 1
            assert i >= n or text[i] in " \t\r\n;{)", f"unexpected {text[i]!r} after a quoted string"
            continue
        j, variable = i, False
        while j < n:
            c = text[j]
            if c == "{" and variable:
                j += 1
                continue
            variable = False
            if c == "\\":
                j += 2
                continue
            if c == "$":
                variable = True
                j += 1
                continue
            if c in " \t\r\n;{":
                break
            j += 1
        words.append(unescape(text[i:j]))
        i = j
    assert not words and not stack, "unexpected end of file"
    return pairs


def yaml_pairs(text: str, loader: Any = yaml.SafeLoader) -> Pairs:
    pairs: Pairs = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")
        else:
            pairs.append((path, node if isinstance(node, str) else repr(node)))

    walk(yaml.load(text, Loader=loader), "")
    return pairs


def json_pairs(text: str) -> Pairs:
    """JSON as a browser's JSON.parse reads it (the web app's config.json); Python's json is as strict."""
    pairs: Pairs = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")
        else:
            pairs.append((path, node if isinstance(node, str) else repr(node)))

    walk(json.loads(text), "")
    return pairs


def _lines(text: str, breaks: str) -> list[str]:
    return re.split("|".join(re.escape(b) for b in ("\r\n", *breaks)), text)


def systemd_pairs(text: str) -> Pairs:
    """Unit file rules of systemd 252 (conf-parser.c): lines end at \\n, \\r and NUL; a trailing backslash continues
    the line; `#`/`;` start comments; `%%` is a percent sign, `%x` a specifier (kept as a distinct token). `%i`,
    the instance, is kept as written: the synapse_unit fields are instance-template values by definition."""
    pairs: Pairs = []
    section, pending = "", ""
    for raw in _lines(text, "\n\r\0"):
        line = (pending + raw).strip() if pending else raw.strip()
        if line.endswith("\\") and not line.startswith(("#", ";")):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            assert line.endswith("]"), f"bad section line {line!r}"
            section = line
            pairs.append((section, None))
            continue
        assert "=" in line, f"missing '=' in {line!r}"
        key, value = (part.strip() for part in line.split("=", 1))
        pairs.append((f"{section}{key}", re.sub(r"%(.)", _specifier, value)))
    return pairs


def _specifier(match: re.Match[str]) -> str:
    return {"%": "%", "i": "%i"}.get(match[1], f"\ue000{match[1]}")


_BASH_VOLATILE = re.compile(r"^(BASH.*|_|PPID|RANDOM|SRANDOM|SECONDS|EPOCH.*|LINENO|PIPESTATUS|FUNCNAME|SHLVL|PWD|"
                            r"OLDPWD|COLUMNS|LINES|HISTCMD|GROUPS|UID|EUID|DIRSTACK|OPTIND|IFS|PS4|v|f)$")


def shell_pairs(text: str, workdir: Path) -> Pairs:
    """bash itself sources the file (no PATH, so an injected command cannot run) and lists the variables and
    functions it defined; what it complained about (a syntax error, a command not found) is part of the result."""
    path = workdir / "file.sh"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    lister = ('trap \'for v in $(compgen -v); do printf "var:%s=%s\\0" "$v" "${!v}"; done; '
              'for f in $(compgen -A function); do printf "fn:%s=\\0" "$f"; done\' EXIT; set -a; . "$0"')
    result = subprocess.run(["/bin/bash", "-c", lister, str(path)], capture_output=True, cwd=workdir,
                            env={"PATH": "/nonexistent", "HOME": "/nonexistent"}, timeout=20)
    # What bash complained about (an injected command is "not found"), without the file's own path.
    stderr = result.stderr.decode("utf-8", "surrogateescape").replace(str(path), "FILE")
    pairs: Pairs = [("stderr", re.sub(r"FILE: line \d+", "FILE", stderr))]
    for item in result.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if not item:
            continue
        key, value = item.split("=", 1)
        if not _BASH_VOLATILE.match(key.split(":", 1)[1]):
            pairs.append((key, value))
    return sorted(pairs, key=lambda pair: pair[0])


def css_pairs(text: str) -> Pairs:
    pairs: Pairs = []

    def token(node: Any) -> str:
        kind = node.type
        if kind == "hash":
            return "#" + node.value
        if kind in ("ident", "string", "url"):
            return f"{kind}:{node.value}"
        if kind == "function":
            return f"function:{node.name}(" + "|".join(token(t) for t in node.arguments) + ")"
        return tinycss2.serialize([node])

    for i, rule in enumerate(tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)):
        assert rule.type == "qualified-rule", f"CSS: {rule.type} {getattr(rule, 'message', '')}"
        key = f"{i}:{tinycss2.serialize(rule.prelude).strip()}"
        pairs.append((key, None))
        for decl in tinycss2.parse_declaration_list(rule.content, skip_comments=True, skip_whitespace=True):
            assert decl.type == "declaration", f"CSS: {decl.type} {getattr(decl, 'message', '')}"
            values = [token(t) for t in decl.value if t.type not in ("whitespace", "comment")]
            for k, value in enumerate(values):
                pairs.append((f"{key}/{decl.lower_name}#{k}", value))
    return pairs


class _HTML(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pairs: Pairs = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        key = "/".join(self.stack + [tag])
        self.pairs.append((f"<{key}>", None))
        self.pairs.extend((f"{key}@{name}", value) for name, value in attrs)
        if tag not in ("meta", "link", "br", "img", "input", "hr"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"HTML: </{tag}> closes {self.stack}"
        self.stack.pop()
        self.pairs.append((f"</{tag}>", None))

    def handle_data(self, data: str) -> None:
        key = "/".join(self.stack)
        if self.stack and self.stack[-1] == "style":
            self.pairs.extend((f"{key}:{k}", v) for k, v in css_pairs(data))
        elif data.strip():
            self.pairs.append((f"{key}:text", data))


def html_pairs(text: str) -> Pairs:
    parser = _HTML()
    parser.feed(text)
    parser.close()
    assert not parser.stack, f"HTML: unclosed {parser.stack}"
    return parser.pairs


def apt_pairs(text: str, workdir: Path) -> Pairs:
    path = workdir / "apt.conf"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    result = subprocess.run(["apt-config", "-c", str(path), "dump"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, f"apt-config: {result.stderr}"
    pairs = [tuple(line.split(" ", 1)) if " " in line else (line, None) for line in result.stdout.splitlines()]
    return [pair for pair in pairs if not pair[0].startswith("CommandLine::")]  # names the temporary file


def ini_pairs(text: str, workdir: Path) -> Pairs:
    path = workdir / "file.ini"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    parser = configparser.RawConfigParser()  # what pip reads pip.conf with
    parser.read(path, encoding="utf-8")
    return [(f"[{s}]{k}", v) for s in parser.sections() for k, v in parser.items(s)]


def line_pairs(text: str, breaks: str = "\n") -> Pairs:
    """Line-based formats (sshd_config, sudoers, audit rules, sysctl, pg_hba ...): their daemons end a line at
    \\n; the first word (up to whitespace or '=') is the key, the rest its value."""
    pairs: Pairs = []
    for line in _lines(text, breaks):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";", "//", "!")):
            continue
        match = re.match(r"([^\s=]*)(.*)", stripped, re.S)
        pairs.append((match[1], match[2].strip(" \t=")))
    return pairs


def msmtp_pairs(text: str) -> Pairs:
    """msmtprc: a command, then one argument, double-quoted where it holds a backslash-escaped value (msmtp's
    conf.c); like line_pairs otherwise."""
    pairs: Pairs = []
    for key, rest in line_pairs(text):
        if rest.startswith('"'):
            match = re.fullmatch(r'"((?:[^"\\]|\\.)*)"', rest, re.S)
            assert match, f"msmtp: {key} has a broken quoted argument {rest!r}"
            rest = re.sub(r"\\(.)", r"\1", match[1], flags=re.S)
        pairs.append((key, rest))
    return pairs


def issue_pairs(text: str) -> Pairs:
    bad = [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    assert not bad, f"control characters in an issue file: {bad!r}"
    assert "\\" not in text.replace("\\\\", ""), "a single backslash is an agetty escape"
    return [("text", " ".join(text.replace("\\\\", "\\").split()))]


# Synapse loads its config with PyYAML's pure-Python safe loader: the random test uses it; the targeted test, with
# ten times the renders, libyaml (the C YAML 1.1 parser PyYAML wraps), which breaks lines at the same characters.
YAML_LOADER = {"targeted": getattr(yaml, "CSafeLoader", yaml.SafeLoader), "random": yaml.SafeLoader}


def structure(syntax: str, text: str, workdir: Path, mode: str = "random") -> Pairs:
    if syntax == "nginx":
        return nginx_tokens(text)
    if syntax == "yaml":
        return yaml_pairs(text, YAML_LOADER[mode])
    if syntax == "systemd":
        return systemd_pairs(text)
    if syntax == "shell":
        return shell_pairs(text, workdir)
    if syntax == "css":
        return css_pairs(text)
    if syntax == "html":
        return html_pairs(text)
    if syntax == "json":
        return json_pairs(text)
    if syntax == "apt":
        return apt_pairs(text, workdir)
    if syntax == "ini":
        return ini_pairs(text, workdir)
    if syntax == "issue":
        return issue_pairs(text)
    if syntax == "msmtp":
        return msmtp_pairs(text)
    if syntax == "properties":
        return line_pairs(text, "\n\r")
    return line_pairs(text)  # lines, nft (nft -c checks it as well)


# ---- the real binaries, in batches -------------------------------------------------------------------------------

@functools.cache
def _test_certificate() -> tuple[str, str]:
    from counselkit import tls
    from counselkit.ca import new_certificate_authority

    key, cert = tls.split_bundle(tls.issue(new_certificate_authority(), "test.example"))
    return str(key), str(cert)


def _nginx_rooted(text: str, root: Path) -> str:
    """The file with its absolute host paths moved under `root`, and the files nginx -t opens put there
    (includes, certificates, log directories): nginx -t checks them, the control machine has none."""
    text = re.sub(r"(?<![\w.:/])/(etc|var|run|opt|srv)/", f"{root}/\\1/", text)
    for key, arg in nginx_tokens(text):
        directive = key.rsplit("/", 1)[-1]
        if arg is None or not arg.startswith(str(root)) or "\0" in arg:
            continue
        target = Path(arg)
        try:
            if directive in ("include#0",) and not re.search(r"[*?\[]", arg) and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text((NGINX_ETC / "mime.types").read_text() if target.name == "mime.types" else "")
            elif directive in ("ssl_certificate#0", "ssl_certificate_key#0"):
                target.parent.mkdir(parents=True, exist_ok=True)
                key_pem, cert_pem = _test_certificate()
                target.write_text(cert_pem if directive == "ssl_certificate#0" else key_pem)
            elif directive in ("access_log#0", "error_log#0", "pid#0"):
                target.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # a name the file system cannot hold: nginx -t reports it below
    return text


_NGINX_SYNTAX_ERRORS = ("unexpected", "unknown directive", "is not allowed here", "invalid number of arguments",
                        "unterminated", "no \"events\" section", "is not terminated", "directive is duplicate")


def nginx_check(files: list[tuple[str, str, str | None]], workdir: Path) -> None:
    """nginx -t on rendered files: nginx.conf as the main file, the others included in an http block.

    A hostile value may make an argument invalid (`allow 192.0.2.0/24;x`): nginx then names that argument, which is
    fine; a syntax error (an injected directive, token or block) is not."""
    if not NGINX.exists():
        pytest.fail(f"{NGINX} is missing: run `scripts/counselkit test-tools` (unpacks Debian's nginx, starts nothing)")
    prefix = workdir / "nginx"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    temp = "".join(f"\t{d}_temp_path {prefix}/{d};\n" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    batch, singles = [], []
    values: dict[Path, str | None] = {}
    for index, (template, text, value) in enumerate(files):
        path = prefix / f"{index}.conf"
        rooted = _nginx_rooted(text, prefix / f"root{index}")  # its own tree: files of one never clash with another
        if template == "nginx/nginx.conf.j2":
            rooted = rooted.replace("http {\n", "http {\n" + temp, 1)
        path.write_bytes(rooted.encode("utf-8", "surrogatepass"))
        values[path] = value
        (singles if template == "nginx/nginx.conf.j2" else batch).append(path)

    def run(main: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(NGINX), "-t", "-q", "-p", str(prefix), "-c", str(main), "-e", "/dev/stderr"],
                              capture_output=True, text=True, errors="replace")

    def wrapper(paths: list[Path]) -> Path:
        main = prefix / "main.conf"
        includes = "".join(f"\tinclude {p};\n" for p in paths)
        # The zone the tenant vhosts apply is defined by nginx.conf.j2, which is not part of this batch.
        main.write_text(f"error_log /dev/stderr;\npid {prefix}/pid;\nevents {{}}\nhttp {{\n{temp}\taccess_log off;\n"
                        "\tlimit_req_zone $binary_remote_addr zone=counselkit_auth:1m rate=30r/m;\n"
                        f"\tinclude {NGINX_ETC}/mime.types;\n{includes}}}\n")
        return main

    def accept(path: Path, result: subprocess.CompletedProcess[str]) -> None:
        if result.returncode == 0:
            return
        value = values[path]
        # nginx names the argument it rejects; a value long or strange enough may be cut, so its start suffices
        # (an argument may be "name=value"; nginx's message may end at the value's first control character)
        shown = re.split(r"[\x00-\x1f\x7f]", value.strip())[0][:12] if value is not None else ""
        about_value = value is not None and (bool(shown and re.search(r'"(?:[a-z_]+=)?' + re.escape(shown), result.stderr))
                                             or f'{value.strip()[-12:]}"' in result.stderr
                                             or "directive invalid value" in result.stderr)
        syntax = any(marker in result.stderr for marker in _NGINX_SYNTAX_ERRORS)
        assert about_value and not syntax, f"nginx -t: {result.stderr}\n{path.read_text(errors='replace')}"

    if batch and run(wrapper(batch)).returncode != 0:
        for path in batch:  # find the file nginx rejects
            accept(path, run(wrapper([path])))
    for path in singles:
        accept(path, run(path))


def systemd_check(files: list[tuple[str, str, str | None]], workdir: Path) -> None:
    """systemd-analyze verify: every hostile render gets the diagnostics of the benign one, plus at most complaints
    about the hostile value itself (an invalid calendar spec, say) — never about another key or section."""
    units = workdir / "units"
    units.mkdir(exist_ok=True)
    paths = []
    for index, (template, text, _) in enumerate(files):
        name = template.rsplit("/", 1)[-1].removesuffix(".j2").replace("@.", f"@{index}.")
        if "@" not in name:
            name = name.replace(".", f"-{index}.", 1)
        path = units / f"ck{index}-{name}"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        paths.append(path)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, paths)], capture_output=True,
                            text=True, errors="replace")
    by_file: dict[str, list[str]] = {}
    for line in result.stderr.splitlines():
        match = re.match(r"(/\S+?):\d+: (.*)", line)
        if match:
            by_file.setdefault(match[1], []).append(re.sub(r"ck\d+-|@\d+\.|-\d+\.", "", match[2]))
    benign_of = {}
    for path, (template, _, value) in zip(paths, files):
        if value is None:
            benign_of[template] = by_file.get(str(path), [])
    for path, (template, text, value) in zip(paths, files):
        extra = [line for line in by_file.get(str(path), []) if line not in benign_of[template]]
        decoded = (value or "").strip()
        assert all(decoded and decoded in line for line in extra), f"systemd-analyze verify {template}: {extra}\n{text}"


# ---- the check ---------------------------------------------------------------------------------------------------

_BENIGN: dict[Case, Pairs] = {}


def benign_structure(case: Case, workdir: Path) -> Pairs:
    if case not in _BENIGN:
        _BENIGN[case] = structure(case.syntax, render_case(case, case.context), workdir)
    return _BENIGN[case]


def expected_values(benign: Any, original: str, hostile: str) -> set[Any]:
    """The benign value with any of the field's occurrences extended (one string may hold several fields)."""
    if not isinstance(benign, str):
        return {benign}
    if not original:  # an empty field: the hostile text is all there is of it
        return {benign, hostile + benign, benign + hostile}
    if original not in benign:
        return {benign}
    parts = benign.split(original)
    if len(parts) > 7:
        return {benign, benign.replace(original, original + hostile)}
    values = set()
    for choice in itertools.product((original, original + hostile), repeat=len(parts) - 1):
        values.add(parts[0] + "".join(c + p for c, p in zip(choice, parts[1:])))
    return values


def _invisible_dropped(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"))


def _json_variants(node: Any, original: str, hostile: str) -> list[Any]:
    if isinstance(node, dict):
        keys = list(node)
        return [dict(zip(keys, values)) for values in
                itertools.product(*(_json_variants(node[k], original, hostile) for k in keys))]
    if isinstance(node, str):
        return list(expected_values(node, original, hostile))
    return [node]


def synapse_from_header(notif_from: str) -> str:
    """What a mail reader sees of Synapse's email.notif_from: Synapse formats it with % {"app": ...} and sends it as
    the From header (synapse/handlers/send_email.py); the reader unquotes and RFC 2047-decodes the display name."""
    name, address = email.utils.parseaddr(notif_from % {"app": "app-name"})
    return f"{email.header.make_header(email.header.decode_header(name))} <{address}>"


def intact(syntax: str, got: Any, want: Any, original: str, hostile: str, key: str = "") -> bool:
    """The parsed value equals the benign one with the field's hostile text in place."""
    if got in expected_values(want, original, hostile):
        return True
    if syntax == "yaml" and key == "/email/notif_from":  # a mail header, quoted/encoded for mail: compare as read
        return synapse_from_header(got) in expected_values(synapse_from_header(want), original, hostile)
    if syntax == "issue":  # agetty files drop control characters and join whitespace
        def squeezed(text: str) -> str:
            return "".join(c for c in _invisible_dropped(text) if not c.isspace())
        return squeezed(got) in {squeezed(v) for v in expected_values(want, original, hostile)}
    if syntax == "nginx" and isinstance(got, str) and got.startswith("{"):  # a JSON body (.well-known/matrix)
        return json.loads(got) in _json_variants(json.loads(want), original, hostile)
    return False


def check(case: Case, path: Path_, original: str, hostile: str, workdir: Path,
          batches: dict[str, list[Any]], mode: str = "random") -> None:
    value = original + hostile
    try:
        text = render_case(case, replaced(case.context, path, value))
    except escape.UnsafeValue as refusal:
        assert refusal.char and refusal.char in hostile, f"{case.template} {path}: refused {value!r}: {refusal}"
        return
    where = f"{case.template} field {'.'.join(map(str, path))} = {value!r}"
    try:
        got = structure(case.syntax, text, workdir, mode)
    except Exception as exc:  # the parser rejects the file: injected syntax
        raise AssertionError(f"{where}: {case.syntax} parser: {exc}\n--- rendered:\n{text}") from exc
    want = benign_structure(case, workdir)
    keys_hold_data = case.syntax in ("lines", "properties", "nft")  # the first word of a line may be a field

    def is_map_key(key: str) -> bool:  # an nginx map's source values (regexes built from layout) are data
        return case.syntax == "nginx" and "/map/" in key

    def unpcre(key: str) -> str:  # a map regex holds its layout path pcre_literal-escaped
        return re.sub(r"\\(.)", r"\1", key, flags=re.S)

    assert len(got) == len(want) and all(
        g == w or (keys_hold_data and g in expected_values(w, original, hostile))
        or (is_map_key(w) and unpcre(g) in expected_values(unpcre(w), original, hostile))
        for (g, _), (w, _) in zip(got, want)), (
        f"{where}: structure changed\n{sorted(set(got) ^ set(want), key=str)[:12]}\n--- rendered:\n{text}")
    for (key, got_value), (_, want_value) in zip(got, want):
        assert intact(case.syntax, got_value, want_value, original, hostile, key), (
            f"{where}: {key} is {got_value!r}, expected {want_value!r} with the value intact")
    if case.syntax == "nginx":
        batches["nginx"].append((case.template, text, value))
    if case.syntax == "systemd":
        batches["systemd"].append((case.template, text, value))
    if case.syntax == "nft" and shutil.which("nft"):
        batches["nft"].append(text)


def run_batches(batches: dict[str, list[Any]], cases_: list[Case], workdir: Path) -> None:
    for case in cases_:
        benign = render_case(case, case.context)
        if case.syntax == "nginx":
            batches["nginx"].append((case.template, benign, None))
        if case.syntax == "systemd":
            batches["systemd"].append((case.template, benign, None))
    if batches["nginx"]:
        nginx_check(batches["nginx"], workdir)
    if batches["systemd"]:
        systemd_check(batches["systemd"], workdir)
    for index, text in enumerate(batches["nft"]):
        path = workdir / f"nft{index}.conf"
        path.write_text(text)
        result = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
        if "Operation not permitted" in result.stderr:
            break  # nft -c needs CAP_NET_ADMIN; the line structure was checked above
        assert result.returncode == 0, f"nft -c: {result.stderr}\n{text}"


TEMPLATES = sorted({c.template for c in cases()})


def _cases_of(template: str) -> list[Case]:
    return [c for c in cases() if c.template == template]


def test_every_template_is_covered() -> None:
    on_disk = {str(p.relative_to(render.TEMPLATES_DIR)) for p in render.TEMPLATES_DIR.rglob("*.j2")}
    assert on_disk == set(TEMPLATES)
    fields = {t: sum(len(used_fields(c)) for c in _cases_of(t)) for t in TEMPLATES}
    for template in ("nginx/tenant.conf.j2", "synapse/homeserver.yaml.j2", "web/index.html.j2", "web/config.json.j2",
                     "backup/job.conf.j2", "keycloak/theme/login/resources/css/counselkit.css.j2"):
        assert fields[template] >= 3, (template, fields[template])  # the harness really varies their fields


@pytest.mark.parametrize("template", TEMPLATES)
def test_targeted_hostile_values(template: str, tmp_path: Path) -> None:
    batches: dict[str, list[Any]] = {"nginx": [], "systemd": [], "nft": []}
    for case in _cases_of(template):
        for path, original in used_fields(case):
            for hostile in HOSTILE:
                check(case, path, original, hostile, tmp_path, batches, "targeted")
    run_batches(batches, _cases_of(template), tmp_path)


@pytest.mark.parametrize("template", TEMPLATES)
# No shrinking: each example runs bash and nginx; the failure message names the field and the value anyway.
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          derandomize=True, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(hostiles=st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=10), min_size=1, max_size=6))
def test_random_hostile_values(template: str, hostiles: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("random")
    batches: dict[str, list[Any]] = {"nginx": [], "systemd": [], "nft": []}
    for case in _cases_of(template):
        for index, (path, original) in enumerate(used_fields(case)):
            check(case, path, original, hostiles[index % len(hostiles)], workdir, batches)
    run_batches(batches, _cases_of(template), workdir)


# ---- the contract: every output goes through an escaping filter ----------------------------------------------------

SAFE_FILTERS = set(escape.FILTERS)


def _escaped(node: jinja2.nodes.Node) -> bool:
    if isinstance(node, jinja2.nodes.TemplateData | jinja2.nodes.Const):
        return True
    if isinstance(node, jinja2.nodes.CondExpr):
        return _escaped(node.expr1) and (node.expr2 is None or _escaped(node.expr2))
    if isinstance(node, jinja2.nodes.Filter):
        if node.name in SAFE_FILTERS:
            return True
        if node.name == "join" and isinstance(node.node, jinja2.nodes.Filter) and node.node.name == "map":
            first = node.node.args[0] if node.node.args else None
            return isinstance(first, jinja2.nodes.Const) and first.value in SAFE_FILTERS
    return False


def test_every_output_goes_through_an_escaping_filter() -> None:
    env = render.environment()
    unescaped = []
    for path in sorted(render.TEMPLATES_DIR.rglob("*.j2")):
        tree = env.parse(path.read_text(encoding="utf-8"))
        for output in tree.find_all(jinja2.nodes.Output):
            for node in output.nodes:
                if not _escaped(node):
                    unescaped.append(f"{path.relative_to(render.TEMPLATES_DIR)}:{node.lineno}")
    assert not unescaped, "outputs without an escaping filter of counselkit.escape:\n" + "\n".join(unescaped)


# ---- the filters themselves, where no template uses them yet -------------------------------------------------------

@given(st.text())
def test_sql_filters_round_trip_through_postgres_parser(value: str) -> None:
    """pglast is PostgreSQL's own parser (libpg_query): the literal and the identifier come back as given."""
    if "\0" in value:
        with pytest.raises(escape.UnsafeValue):
            escape.sql_literal(value)
        return
    (statement,) = pglast.parse_sql(f"SELECT {escape.sql_literal(value)} AS {escape.sql_ident(value or 'x')}")
    target = statement.stmt.targetList[0]
    assert target.val.val.sval == value
    if len((value or "x").encode()) < 64:  # NAMEDATALEN: PostgreSQL truncates longer identifiers
        assert target.name == (value or "x")


@given(st.text(alphabet=[c for c in ALPHABET if c.isascii()], max_size=20))
def test_systemd_env_is_one_quoted_word(value: str) -> None:
    try:
        word = escape.systemd_env(value, "NAME")
    except escape.UnsafeValue as refusal:
        assert refusal.char in value
        return
    assert word.startswith('"NAME=') and word.endswith('"') and not re.search(r"[\x00-\x1f]", word)
    inner = word[1:-1].replace("%%", "%")
    assert not re.search(r'(?<!\\)"', inner.replace("\\\\", ""))  # no unescaped quote ends the word early
    assert inner.encode().decode("unicode_escape") == f"NAME={value}"


# ---- both engines: Ansible's template module renders the same bytes with the same filters ------------------------

# One template per filter and filter form (keyword arguments, map/join, tojson): the filters are the same functions.
PARITY_TEMPLATES = ("nginx/tenant.conf.j2", "nginx/nginx.conf.j2", "synapse/homeserver.yaml.j2", "web/index.html.j2", "web/config.json.j2",
                    "backup/job.conf.j2", "backup/counselkit-backup@.timer.j2", "base/nftables.conf.j2",
                    "base/apt-proxy.conf.j2", "base/pip.conf.j2", "base/issue.j2", "base/sudoers-admins.j2",
                    "postgres/pg_hba.conf.j2", "keycloak/keycloak.conf.j2", "keycloak/synapse-oidc.yaml.j2",
                    "keycloak/theme/login/resources/css/counselkit.css.j2", "synapse/matrix-synapse@.service.j2")


@pytest.mark.slow
def test_ansible_renders_the_same_bytes(tmp_path: Path) -> None:
    # Free text with line breaks, quotes, markup and a percent sign (no "{{": Ansible would template extra vars).
    hostile = "Nord\nlicht \"x\" 'y' <b>&amp; ü \u2028 % ; } */"
    items, expected = [], {}
    for index, template in enumerate(PARITY_TEMPLATES):
        case = _cases_of(template)[0]
        context = case.context
        for path, _ in used_fields(case):
            if path[-1] in ("name", "managed_banner", "managed_by"):
                context = replaced(context, path, hostile)
        dest = tmp_path / f"out{index}"
        items.append({"src": str(render.TEMPLATES_DIR / template), "dest": str(dest), "context": context})
        expected[dest] = render_case(case, context)
    (tmp_path / "items.json").write_text(json.dumps({"parity_items": items}))
    # Each item's context becomes the template's variables, as the roles pass them (task vars).
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_tasks: one.yml\n      loop: \"{{ parity_items }}\"\n"
        "      loop_control: {loop_var: parity_item}\n")
    keys = sorted({k for item in items for k in item["context"]})
    variables = "".join(f"        {k}: \"{{{{ parity_item.context['{k}'] | default(omit) }}}}\"\n" for k in keys)
    (tmp_path / "one.yml").write_text(
        "- ansible.builtin.template:\n    src: \"{{ parity_item.src }}\"\n    dest: \"{{ parity_item.dest }}\"\n"
        f"  vars:\n{variables}".replace("      vars", "  vars").replace("        ", "    "))
    result = subprocess.run(
        [str(Path(__import__("sys").executable).parent / "ansible-playbook"), "-i", "localhost,",
         "-e", f"@{tmp_path / 'items.json'}", str(tmp_path / "play.yml")],
        capture_output=True, text=True, cwd=REPO, env={**__import__("os").environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                                                 "COUNSELKIT_VAULT_PASSWORD": "unused"},  # nothing is decrypted
        timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for dest, text in expected.items():
        assert dest.read_text(encoding="utf-8") == text, dest
