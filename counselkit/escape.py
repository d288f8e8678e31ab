"""Escaping filters, one per syntax of the files in templates/ (the template contract's second half).

Every ``{{ ... }}`` in a template ends in one of these filters (tests/unit/test_template_injection.py checks it),
so a value from tenants.yaml, the lock file or the plan is data in the rendered file and never syntax — also a value
that bypassed the model's checks. Where a syntax has an escape for a character, the filter uses it; where it has
none (a NUL byte in nginx, a line break in a systemd value ...) the filter refuses the value with ``UnsafeValue``,
so nothing is written rather than something that means more than it says.

Both engines register ``FILTERS``: counselkit.render.environment() (pyinfra, unit tests) and the Ansible filter
plugin inventories/ansible/plugins/filter/counselkit.py. Filters must therefore be plain functions of a value.
Values that are already safe for their syntax render unchanged (quoting only where needed), so escaping changes
no benign output.
"""

from __future__ import annotations

import email.utils
import json
import re
import shlex
import unicodedata
from collections.abc import Callable
from typing import Any

import markupsafe

__all__ = ["FILTERS", "UnsafeValue"]


class UnsafeValue(ValueError):
    """A value that the target syntax cannot carry: the render stops instead of writing a misleading file."""

    def __init__(self, syntax: str, value: Any, char: str, why: str) -> None:
        self.syntax, self.value, self.char = syntax, value, char
        super().__init__(f"{syntax}: cannot write {str(value)[:80]!r}: {why} ({char!r})")


# Unicode categories that never belong in a config file's free text: controls (incl. U+0085 NEL), format characters
# (bidi overrides: "trojan source"), line/paragraph separators (YAML 1.1 line breaks), surrogates, private use,
# unassigned.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        # A bool or None in a string position is a context bug; rendering "True"/"None" would hide it.
        raise UnsafeValue("text", value, str(value), "not a string")
    return str(value)


def _invisible(char: str) -> bool:
    return unicodedata.category(char) in _INVISIBLE


def _first_invisible(text: str) -> str | None:
    return next((c for c in text if _invisible(c)), None)


# ---- free text in comments ------------------------------------------------------------------------------------

def comment(value: Any) -> str:
    """Free text inside a one-line comment of any syntax here (`#`, `//`, `;`, `/* */`).

    Characters that could end the line (or the comment) are replaced by U+FFFD, so the text stays readable and
    can never become a directive: every control, format and separator character, and the CSS comment end.
    """
    text = "".join("\ufffd" if _invisible(c) else c for c in _text(value))
    return text.replace("*/", "*\ufffd/")


# ---- nginx ----------------------------------------------------------------------------------------------------

_NGINX_BARE = re.compile(r"[A-Za-z0-9_.:/@+=,~^*\[\]-]+")
_NGINX_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def nginx_str(value: Any, raw: str = "") -> str:
    """One nginx directive argument: bare when it has only plain characters, else quoted.

    nginx unescapes ``\\"``, ``\\'``, ``\\\\``, ``\\n``, ``\\r``, ``\\t`` in quoted strings. It has no escape for ``$``
    (variables are expanded in most directives) and a NUL byte would cut the C string: both are refused.
    ``raw`` is nginx text from the template itself (``$request_uri``), appended inside the same argument: nginx
    needs whitespace after a closing quote, so a value and a variable must share one quoted string.
    """
    text = _text(value)
    for char in text:
        if char == "$":
            raise UnsafeValue("nginx", text, char, "nginx expands variables and has no escape for '$'")
        if char == "\0":
            raise UnsafeValue("nginx", text, char, "nginx cannot hold a NUL byte")
    if _NGINX_BARE.fullmatch(text):
        return text + raw
    quote = "'" if "'" not in text else '"'
    body = "".join(_NGINX_ESCAPES.get(c, "\\" + c if c == quote else c) for c in text)
    return f"{quote}{body}{raw}{quote}"


# ---- YAML -----------------------------------------------------------------------------------------------------

def pcre_literal(value: Any) -> str:
    """Text matched literally inside a PCRE regular expression (an nginx map or location regex built from a layout
    path): every ASCII character but letters and digits is backslash-escaped; quote the whole regex afterwards
    with nginx_str. Control characters are refused (a regex cannot hold them readably)."""
    text = _text(value)
    char = _first_invisible(text)
    if char is not None:
        raise UnsafeValue("pcre", text, char, "a regular expression literal is one line")
    return "".join("\\" + c if c.isascii() and not c.isalnum() else c for c in text)


def yaml_str(value: Any) -> str:
    """A YAML double-quoted scalar holding exactly ``value``: JSON-style escapes, ASCII only.

    Everything outside printable ASCII is escaped (``\\r``, U+2028, U+0085, NUL, ESC ... are line breaks or stream
    errors for a YAML 1.1 parser such as Synapse's PyYAML). Characters beyond the BMP use YAML's ``\\U`` escape:
    JSON's surrogate pairs would load as two lone surrogates in PyYAML.
    """
    out = ['"']
    for char in _text(value):
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


# ---- CSS ------------------------------------------------------------------------------------------------------

def _css_escape_char(char: str) -> str:
    # A hex escape ends with a space, so a following hex digit is not read as part of it (CSS Syntax 4.3.7).
    return f"\\{ord(char):x} "


def _css_name(text: str, ident: bool) -> str:
    """CSSOM "serialize an identifier" (or a hash token's name part, which may start with a digit)."""
    if "\0" in text:
        raise UnsafeValue("css", text, "\0", "CSS replaces NUL with U+FFFD")
    out = []
    for i, char in enumerate(text):
        code = ord(char)
        if code < 0x20 or code == 0x7F or char in "<>&\"'" or (
                ident and (i == 0 or (i == 1 and text[0] == "-")) and char.isdigit()):
            # hex escapes also for < > & and quotes: `\\<` would still end an HTML <style> as `</style>`
            out.append(_css_escape_char(char))
        elif ident and i == 0 and char == "-" and len(text) == 1:
            out.append("\\-")
        elif code >= 0x80 or char.isascii() and (char.isalnum() or char in "-_"):
            out.append(char)
        else:
            out.append("\\" + char)
    return "".join(out)


def css_color(value: Any) -> str:
    """A colour as one CSS token: ``#hex`` stays a hash token, a colour name an identifier; nothing else escapes."""
    text = _text(value)
    if text.startswith("#"):
        return "#" + _css_name(text[1:], ident=False)
    return _css_name(text, ident=True)


def css_str(value: Any) -> str:
    """A CSS string token; ``<``, ``>`` and ``&`` are escaped too, so it is also safe inside an HTML <style>."""
    text = _text(value)
    if "\0" in text:
        raise UnsafeValue("css", text, "\0", "CSS replaces NUL with U+FFFD")
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F or char in "<>&" or _invisible(char):
            out.append(_css_escape_char(char))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


# ---- shell, SQL -----------------------------------------------------------------------------------------------

def shquote(value: Any) -> str:
    """One shell word (POSIX sh / bash), as shlex.quote. bash cannot hold a NUL byte in a word: refused."""
    text = _text(value)
    if "\0" in text:
        raise UnsafeValue("shell", text, "\0", "a shell word cannot hold a NUL byte")
    return shlex.quote(text)


def sql_literal(value: Any) -> str:
    """A PostgreSQL string constant (standard_conforming_strings on, the default since 9.1)."""
    text = _text(value)
    if "\0" in text:
        raise UnsafeValue("sql", text, "\0", "PostgreSQL text cannot hold a NUL byte")
    return "'" + text.replace("'", "''") + "'"


def sql_ident(value: Any) -> str:
    """A PostgreSQL identifier, always quoted (so keywords and case survive)."""
    text = _text(value)
    if "\0" in text:
        raise UnsafeValue("sql", text, "\0", "PostgreSQL identifiers cannot hold a NUL byte")
    return '"' + text.replace('"', '""') + '"'


# ---- systemd --------------------------------------------------------------------------------------------------

def _systemd_checked(text: str) -> str:
    char = _first_invisible(text)
    if char is not None:
        # systemd ends a line at \n, \r and NUL and has no escape for them in a plain setting's value.
        raise UnsafeValue("systemd", text, char, "a unit file setting cannot hold control or separator characters")
    if text.endswith("\\"):
        raise UnsafeValue("systemd", text, "\\", "a trailing backslash continues the line")
    if text != text.strip():
        raise UnsafeValue("systemd", text, " ", "systemd strips leading and trailing whitespace")
    return text


_SYSTEMD_WORD = re.compile(r"[A-Za-z0-9_./:@+=~-]+")


def systemd_word(value: Any, with_instance: bool = False) -> str:
    """A path or name in a unit file (User=, ExecStart= arguments, ReadWritePaths= ...): plain characters only, so
    no quoting, `$` expansion or prefix (`-`, `@`, `!` ...) rules apply. ``with_instance=True`` keeps ``%i`` (the
    values of the template unit's ``synapse_unit`` are built with it); every other ``%`` is refused. (Not named
    ``instance``: Ansible's filter dispatch takes that keyword for itself.)"""
    text = _text(value)
    plain = text.replace("%i", "") if with_instance else text
    if not _SYSTEMD_WORD.fullmatch(plain) or plain[:1] in "-@!:+":
        char = next((c for c in plain if not _SYSTEMD_WORD.fullmatch(c)), plain[:1])
        raise UnsafeValue("systemd", text, char, "a unit file path or name has only letters, digits and _ . / : @ + = ~ -")
    return text


def systemd_value(value: Any) -> str:
    """The value of a unit file setting (Description=, OnCalendar=, User=, paths): specifiers ``%`` doubled."""
    return _systemd_checked(_text(value)).replace("%", "%%")


_SYSTEMD_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def systemd_env(value: Any, name: str) -> str:
    """``"NAME=value"`` for Environment= (``{{ value | systemd_env("NAME") }}``): one quoted word, C escapes,
    specifiers doubled."""
    text = _text(value)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UnsafeValue("systemd", name, name[:1], "not an environment variable name")
    if "\0" in text:
        raise UnsafeValue("systemd", text, "\0", "an environment value cannot hold a NUL byte")
    body = "".join(_SYSTEMD_C_ESCAPES.get(c, f"\\x{ord(c):02x}" if ord(c) < 0x20 or ord(c) == 0x7F else c)
                   for c in f"{name}={text}")
    return '"' + body.replace("%", "%%") + '"'


# ---- plain tokens of line-based configs -----------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9_.:/@+=~-]+")


def word(value: Any) -> str:
    """A bare token for formats without quoting (sshd_config, sudoers, audit rules, modprobe, postgresql.conf,
    keycloak.conf, EnvironmentFile): names, paths, numbers. No comma (a list separator in sudoers and sshd), no
    whitespace, quote, `#`, `$`, `%` or backslash: anything else is refused."""
    text = _text(value)
    if not _WORD.fullmatch(text):
        char = next((c for c in text if not _WORD.fullmatch(c)), "")
        raise UnsafeValue("config", text, char, "only letters, digits and _ . : / @ + = ~ - are allowed here")
    return text


def unix_name(value: Any) -> str:
    """A user or group name (sudoers, sshd AllowGroups): the shadow-utils alphabet, nothing a list could split."""
    text = _text(value)
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", text):
        char = next((c for c in text if not re.fullmatch(r"[a-z0-9_-]", c)), text[:1])
        raise UnsafeValue("unix name", text, char, "a user or group name is [a-z_][a-z0-9_-]*")
    return text


def nft_ident(value: Any) -> str:
    """An nftables identifier (table, chain, set name)."""
    text = _text(value)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", text):
        char = next((c for c in text if not (c.isascii() and (c.isalnum() or c == "_"))), text[:1])
        raise UnsafeValue("nftables", text, char, "an identifier is a letter, then letters, digits and _")
    return text


_PG_HBA_KEYWORDS = frozenset({"all", "sameuser", "samerole", "samegroup", "replication"})


def pg_hba_name(value: Any) -> str:
    """A database or role name in pg_hba.conf: a plain name, and not one of the keywords that would widen the rule."""
    text = _text(value)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", text):
        char = next((c for c in text if not re.fullmatch(r"[A-Za-z0-9_.-]", c)), text[:1])
        raise UnsafeValue("pg_hba", text, char, "only letters, digits and _ . - (not first) are allowed")
    if text.lower() in _PG_HBA_KEYWORDS:
        raise UnsafeValue("pg_hba", text, text, "a pg_hba.conf keyword")
    return text


def integer(value: Any) -> str:
    """A whole number (a port, a size): an int, or a string of ASCII digits (Ansible may pass either)."""
    if isinstance(value, bool):
        raise UnsafeValue("integer", value, str(value), "not a number")
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if not re.fullmatch(r"[0-9]+", text):
        raise UnsafeValue("integer", text, next((c for c in text if not "0" <= c <= "9"), ""), "not a whole number")
    return text


def apt_str(value: Any) -> str:
    """An apt.conf string value, quoted: apt has no escape for ``"``, so it (and control characters) are refused."""
    text = _text(value)
    char = next((c for c in text if c == '"' or _invisible(c)), None)
    if char is not None:
        raise UnsafeValue("apt.conf", text, char, "an apt.conf string cannot hold it")
    return f'"{text}"'


def ini_value(value: Any) -> str:
    """A value in an INI file read by Python's configparser (pip.conf): one line, no surrounding whitespace."""
    text = _text(value)
    char = _first_invisible(text)
    if char is not None:
        raise UnsafeValue("ini", text, char, "an INI value is one line")
    if text != text.strip() or not text:
        raise UnsafeValue("ini", text, " ", "configparser strips surrounding whitespace")
    return text


def msmtp_str(value: Any) -> str:
    """An msmtprc argument, double-quoted (msmtp reads backslash as escaping the next character inside quotes);
    one line: msmtp's configuration has no escape for a line break."""
    text = _text(value)
    char = _first_invisible(text)
    if char is not None:
        raise UnsafeValue("msmtp", text, char, "an msmtprc value is one line")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_MAILBOX_LOCAL = re.compile(r"[A-Za-z0-9.!#$&'*+/=?^_`{|}~-]")  # atext of RFC 5322 without %: Synapse formats with %
_MAILBOX_DOMAIN = re.compile(r"[A-Za-z0-9.-]")
_MAILBOX = re.compile(rf"{_MAILBOX_LOCAL.pattern}+@{_MAILBOX_DOMAIN.pattern}+")


def synapse_mail_from(name: Any, address: Any) -> str:
    """Synapse's email.notif_from: an RFC 5322 From header value ``name <address>`` (the display name quoted, or
    RFC 2047-encoded when not ASCII, so commas, quotes and angle brackets stay part of the name), with every ``%``
    doubled because Synapse formats the value with ``% {"app": ...}`` (synapse/handlers/send_email.py). One line: a
    line break would start a new mail header. The address must be a plain ``local@domain`` (no quoting, no ``%``).
    The result still needs the escape of the file it goes into (``yaml_str``)."""
    text, mailbox = _text(name), _text(address)
    char = _first_invisible(text)
    if char is not None:
        raise UnsafeValue("mail header", text, char, "a From header is one line")
    if not _MAILBOX.fullmatch(mailbox):
        local, _, domain = mailbox.partition("@")
        bad = [c for c in local if not _MAILBOX_LOCAL.fullmatch(c)] + [c for c in domain if not _MAILBOX_DOMAIN.fullmatch(c)]
        raise UnsafeValue("mail header", mailbox, (bad or ["@"])[0], "a sender address is a plain local@domain")
    return email.utils.formataddr((text, mailbox), charset="utf-8").replace("%", "%%")


def issue_text(value: Any) -> str:
    """Text for /etc/issue and issue.net: agetty expands backslash sequences, so ``\\`` is doubled; line breaks
    stay, other control characters (terminal escapes) are dropped."""
    text = "".join(c for c in _text(value) if c == "\n" or not _invisible(c))
    return text.replace("\\", "\\\\")


# ---- HTML -----------------------------------------------------------------------------------------------------

def html(value: Any) -> str:
    """Text or a quoted attribute value in HTML (markupsafe: & < > " ')."""
    return str(markupsafe.escape(_text(value)))


def html_url(value: Any) -> str:
    """A link target in an HTML attribute: http(s) only (no ``javascript:``), then escaped like any attribute."""
    text = _text(value)
    char = _first_invisible(text)
    if char is not None or not re.match(r"https?://", text, re.IGNORECASE):
        raise UnsafeValue("html", text, char or text[:1], "a link must be an http(s) URL without control characters")
    return html(text)


# ---- JSON ------------------------------------------------------------------------------------------------------

def json_doc(value: Any) -> str:
    """A whole JSON document (a file the web app fetches): ASCII only, and ``<``, ``>``, ``&`` as \\u escapes, so it
    stays inert should a browser ever sniff it as HTML. Only JSON's own types: anything else stops the render."""
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise UnsafeValue("json", repr(value)[:60], "", f"not a JSON value: {error}") from None
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


FILTERS: dict[str, Callable[..., str]] = {
    "json_doc": json_doc,
    "comment": comment,
    "nginx_str": nginx_str,
    "pcre_literal": pcre_literal,
    "yaml_str": yaml_str,
    "css_color": css_color,
    "css_str": css_str,
    "shquote": shquote,
    "sql_literal": sql_literal,
    "sql_ident": sql_ident,
    "systemd_value": systemd_value,
    "systemd_word": systemd_word,
    "systemd_env": systemd_env,
    "word": word,
    "nft_ident": nft_ident,
    "unix_name": unix_name,
    "pg_hba_name": pg_hba_name,
    "integer": integer,
    "apt_str": apt_str,
    "ini_value": ini_value,
    "msmtp_str": msmtp_str,
    "synapse_mail_from": synapse_mail_from,
    "issue_text": issue_text,
    "html": html,
    "html_url": html_url,
}
