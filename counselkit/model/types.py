"""Field types shared by the platform and tenant models, each with an error message that says what is allowed."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl
from pydantic import Strict as PydanticStrict

from .. import layout

SLUG_MAX = 28  # "mx-" + slug must fit Linux's 32-character user names
RESERVED_SLUGS = frozenset(
    {"www", "mail", "smtp", "imap", "admin", "auth", "sso", "keycloak", "id", "login", "matrix", "api",
     "status", "static", "cdn", "ns1", "ns2", "mx", "autoconfig", "autodiscover", "webmail", "backup",
     "monitoring", "metrics", "element", "app", "test", "localhost"}
)
# Accounts of a Debian 12 host plus the ones the deploy creates: an admin of the same name would take them over.
SYSTEM_ACCOUNTS = frozenset(
    {"root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data",
     "backup", "list", "irc", "gnats", "nobody", "messagebus", "sshd", "postgres", "nginx", "ntp", "statd",
     "tss", "polkitd", "aide", "certbot", "fail2ban", "admin", "operator",
     layout.KEYCLOAK_USER, layout.KEYCLOAK_GROUP, layout.KEYCLOAK_DB_USER, layout.ADMIN_GROUP, layout.KEYCLOAK_ADMIN_USER}
)
TENANT_USER_PREFIX = layout.tenant_names("x")["unix_user"].removesuffix("x")  # "mx-": every tenant's system user
# Debian's conventions for system users; layout's tenant users; Synapse's database roles.
RESERVED_ACCOUNT_PREFIXES = ("_", "systemd-", "debian-", TENANT_USER_PREFIX,
                             layout.tenant_names("x")["db_user"].removesuffix("x"))
_LABEL = re.compile(r"[a-z](?:[a-z0-9-]*[a-z0-9])?")  # a slug or host name: starts with a letter
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # RFC 1123 label, ASCII only
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_SSH_KEY = re.compile(
    r"(ssh-ed25519|sk-ssh-ed25519@openssh\.com|ecdsa-sha2-nistp(256|384|521)|sk-ecdsa-sha2-nistp256@openssh\.com|ssh-rsa)"
    r" [A-Za-z0-9+/]+={0,3}( [^\n]*)?"
)
_UNIX_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_POSTCODE = re.compile(r"[0-9A-Z -]{3,10}")
_COUNTRY = re.compile(r"[A-Z]{2}")
# A strict subset of the addr-spec (RFC 5322; RFC 6531 letters in the local part, as in jörg@...): nothing a
# shell, a template or a config parser treats specially. Non-ASCII letters and marks count as "a" here.
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*")
EMAIL_MAX = 254
# VAT identification numbers of the EU member states (and XI: Northern Ireland) as VIES checks them:
# the part after the two-letter prefix. Greece uses EL, not GR.
VAT_FORMATS: dict[str, str] = {
    "AT": r"U[0-9]{8}", "BE": r"[01][0-9]{9}", "BG": r"[0-9]{9,10}", "CY": r"[0-9]{8}[A-Z]",
    "CZ": r"[0-9]{8,10}", "DE": r"[1-9][0-9]{8}", "DK": r"[0-9]{8}", "EE": r"[0-9]{9}", "EL": r"[0-9]{9}",
    "ES": r"[0-9A-Z][0-9]{7}[0-9A-Z]", "FI": r"[0-9]{8}", "FR": r"[0-9A-HJ-NP-Z]{2}[0-9]{9}", "HR": r"[0-9]{11}",
    "HU": r"[0-9]{8}", "IE": r"[0-9][0-9A-Z+*][0-9]{5}[A-W][A-IW]?", "IT": r"[0-9]{11}", "LT": r"[0-9]{9}|[0-9]{12}",
    "LU": r"[0-9]{8}", "LV": r"[0-9]{11}", "MT": r"[0-9]{8}", "NL": r"[0-9]{9}B[0-9]{2}", "PL": r"[0-9]{10}",
    "PT": r"[0-9]{9}", "RO": r"[1-9][0-9]{1,9}", "SE": r"[0-9]{10}01", "SI": r"[1-9][0-9]{7}",
    "SK": r"[1-9][0-9]{9}", "XI": r"[0-9]{9}|[0-9]{12}|GD[0-9]{3}|HA[0-9]{3}",
}
# Characters no single-line text may hold: they end a line for nginx, YAML (\r, U+0085, U+2028, U+2029), CSS or
# a shell, break parsers (NUL, ESC) or reorder what a reader sees (bidi overrides, "Trojan Source").
# Cc (C0, DEL, C1 incl. U+0085), Zl, Zp, surrogates (Cs, only via YAML escapes) and the bidi controls.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
                        "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_NAMES = {"\0": "NUL", "\t": "tab", "\n": "line feed", "\r": "carriage return", "\x1b": "escape",
                  "\x7f": "delete", "\x85": "next line"}  # unicodedata has no names for controls


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, so typos never pass silently.

    strict: no coercion — `true` is no number, 8101.9 no integer, "1" no boolean. Decimal fields opt out
    (see LaxDecimal) because YAML writes a whole amount such as 19 as an integer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True)


def forbidden_character(value: str) -> str | None:
    """The first character single-line text must not hold, described for an error message; None if clean."""
    found = _FORBIDDEN.search(value)
    if found is None:
        return None
    char = found[0]
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "control character").lower()
    return f"U+{ord(char):04X} ({name})"


def escape_forbidden(text: str) -> str:
    """`text` with every such character as \\uXXXX: error output must not start a fake line or hide text."""
    return _FORBIDDEN.sub(lambda match: f"\\u{ord(match[0]):04x}", text)


def _text(value: str) -> str:
    bad = forbidden_character(value)
    if bad is not None:
        raise ValueError(
            f"contains {bad}: line breaks, tabs, control characters, line/paragraph separators and bidi "
            "overrides are not allowed in this single-line field"
        )
    return value


def _text_input(value: object) -> object:
    """The same check before a type that would quietly drop such characters (URLs lose tabs and newlines)."""
    return _text(value) if isinstance(value, str) else value


def check_slug(value: str) -> str:
    if not (2 <= len(value) <= SLUG_MAX) or not _LABEL.fullmatch(value) or "--" in value:
        raise ValueError(
            f"'{value}' is not a valid slug: use 2-{SLUG_MAX} lowercase letters, digits and single '-', "
            "starting with a letter and not ending with '-' (it becomes the DNS name <slug>.<domain>)"
        )
    if value in RESERVED_SLUGS:
        raise ValueError(f"'{value}' is reserved for the platform; choose another slug")
    return value


def check_host_name(value: str) -> str:
    if not (1 <= len(value) <= 63) or not _LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid host name: one RFC 1123 label of ASCII lowercase letters, digits and '-', "
            "starting with a letter"
        )
    return value


def _domain_problem(value: str) -> str | None:
    """Why `value` is no ASCII DNS name (RFC 1123, IDNs as xn-- A-labels), or None when it is one."""
    if not value.isascii():
        return "only ASCII is allowed: write an internationalised name in its xn-- (IDNA) form"
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2:
        return "a DNS name needs at least two labels and at most 253 characters"
    for label in labels:
        if not _DNS_LABEL.fullmatch(label):
            return f"label '{label}' is not 1-63 lowercase letters, digits and inner '-'"
        if label[2:4] == "--" and not _is_a_label(label):
            return f"label '{label}' has '--' at positions 3-4 but is no valid xn-- IDNA label"
    if not labels[-1][0].isalpha():
        # All-numeric last labels make a name an IPv4 address in disguise (0203.0.113.010 is octal for elsewhere).
        return "the last label must start with a letter (numbers-only names are IPv4 addresses in disguise)"
    return None


def _is_a_label(label: str) -> bool:
    if not label.startswith("xn--"):
        return False
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return False
    return bool(decoded) and not decoded.isascii()


def _domain(value: str) -> str:
    problem = _domain_problem(value)
    if problem is not None:
        raise ValueError(f"{value!r} is not a valid DNS domain such as beratung.example.org: {problem}")
    return value


def _address(value: str) -> str:
    if ":" in value:
        try:
            address = ipaddress.IPv6Address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid IPv6 address") from None
        if address.scope_id is not None:
            raise ValueError(f"{value!r}: IPv6 zone indexes (%...) are not allowed; give the address alone")
        return str(address)  # canonical (compressed, lowercase) form
    problem = _domain_problem(value)
    if problem is not None and re.fullmatch(r"[0-9a-fA-FxX.]+", value):  # meant as IPv4: it must be canonical
        try:
            return str(ipaddress.IPv4Address(value))  # rejects leading zeros, short and hex forms
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IPv4 address in canonical dotted-decimal form (four parts 0-255, no leading "
                "zeros, no octal, hex or short forms such as 127.1)"
            ) from None
    if problem is not None:
        raise ValueError(f"{value!r} is neither an IP address nor a DNS name: {problem}")
    return value


def address_key(value: str) -> str:
    """One spelling per network address, so duplicates are found: ::ffff:203.0.113.10 is 203.0.113.10."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return value.lower().rstrip(".")
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        packed = address.packed
        if packed[:12] == bytes(12) and int.from_bytes(packed[12:], "big") > 1:  # deprecated ::203.0.113.10
            return str(ipaddress.IPv4Address(packed[12:]))
    return str(address)


def _color(value: str) -> str:
    if not _COLOR.fullmatch(value):
        raise ValueError(f"'{value}' is not a colour: use six hex digits like #00519e")
    return value.lower()


def _https(value: HttpUrl) -> HttpUrl:
    # Shown to help-seekers as links: plain http would let anyone on the path read or swap the page.
    if value.scheme != "https":
        raise ValueError(f"'{value}' must start with https:// (help-seekers follow this link from an encrypted page)")
    return value


def _relative_file(value: str) -> str:
    """A file name below the directory of tenants.yaml: no absolute path, no '..', no hidden or empty parts."""
    parts = value.split("/")
    if value.startswith("/") or any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        raise ValueError(f"'{value}' must be a path relative to the directory of tenants.yaml, such as "
                         "logos/awo-kiel.png (no leading '/', no '..', no hidden or empty parts)")
    return value


def iban_is_valid(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def _iban(value: str) -> str:
    if not iban_is_valid(value):
        raise ValueError(f"'{value}' is not a valid IBAN (country code, check digits, account; the check sum must match)")
    return value.replace(" ", "").upper()


def _ssh_key(value: str) -> str:
    value = _text(value.strip())  # the comment is free text: no line break may smuggle in a second key
    if not _SSH_KEY.fullmatch(value):
        raise ValueError("not an OpenSSH public key: expected 'ssh-ed25519 AAAA... comment' (or ecdsa/rsa) on one line")
    return value


def _unix_user(value: str) -> str:
    if not _UNIX_USER.fullmatch(value):
        raise ValueError(f"{value!r} is not usable as a login name: lowercase letters, digits, '_' or '-', at most 32")
    if value in SYSTEM_ACCOUNTS or value.startswith(RESERVED_ACCOUNT_PREFIXES):
        raise ValueError(
            f"'{value}' is a system or tenant account name (reserved: {', '.join(sorted(SYSTEM_ACCOUNTS))} and names "
            f"starting with {', '.join(repr(p) for p in RESERVED_ACCOUNT_PREFIXES)}); choose a personal login name"
        )
    return value


def german_vat_check_digit_ok(digits: str) -> bool:
    """The USt-IdNr check digit: ISO 7064 MOD 11,10 over the first eight digits (BZSt's algorithm)."""
    product = 10
    for digit in digits[:8]:
        total = (int(digit) + product) % 10 or 10
        product = (2 * total) % 11
    check = 11 - product
    return (0 if check == 10 else check) == int(digits[8])


def _vat_id(value: str) -> str:
    prefix, number = value[:2], value[2:]
    pattern = VAT_FORMATS.get(prefix)
    if pattern is None:
        raise ValueError(
            f"'{value}' is not an EU VAT identification number: it must start with a member state prefix "
            f"({', '.join(sorted(VAT_FORMATS))}; Greece is EL), no spaces, such as DE136695976"
        )
    if not re.fullmatch(pattern, number):
        raise ValueError(f"'{value}' does not have the format of a {prefix} VAT identification number ({prefix} + {pattern})")
    if prefix == "DE" and not german_vat_check_digit_ok(number):
        raise ValueError(f"'{value}' is not a valid USt-IdNr.: the check digit (ISO 7064 MOD 11,10) does not match")
    return value


def _letters_as_a(text: str) -> str:
    return "".join("a" if not c.isascii() and unicodedata.category(c)[0] in "LM" else c for c in text)


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or "@" in local or not local:
        raise ValueError(f"{value!r} is not an e-mail address: it needs exactly one @-sign, as in office@example.org")
    if len(value) > EMAIL_MAX or len(local.encode()) > 64 or not _EMAIL_LOCAL.fullmatch(_letters_as_a(local)):
        raise ValueError(
            f"{value!r} is not an accepted e-mail address: the part before '@' may hold only letters, ASCII digits "
            "and . _ % + - (no dot at either end or twice in a row), at most 64 bytes"
        )
    problem = _domain_problem(domain.lower())
    if problem is not None:
        raise ValueError(f"{value!r} is not an accepted e-mail address: domain {domain!r}: {problem}")
    return f"{local}@{domain.lower()}"


def _postcode(value: str) -> str:
    if not _POSTCODE.fullmatch(value):
        raise ValueError(f"'{value}' is not a postcode")
    return value


def _country(value: str) -> str:
    import pycountry  # the ISO 3166-1 list itself: "XX" has the right shape but is no country

    if not _COUNTRY.fullmatch(value) or pycountry.countries.get(alpha_2=value) is None:
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code such as DE")
    return value


def _money(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError("must be an amount of zero or more, such as 49.00")
    if value != value.quantize(Decimal("0.0001")):
        raise ValueError("has more than four decimal places")
    return value


# Amounts: YAML gives 19 as an integer and 49.90 as a Decimal (see yamlsource.plain); both are fine.
LaxDecimal = Annotated[Decimal, PydanticStrict(False)]
Text = Annotated[str, AfterValidator(_text)]  # any single-line free text
Slug = Annotated[str, AfterValidator(check_slug)]
HostName = Annotated[str, AfterValidator(check_host_name)]
Domain = Annotated[str, AfterValidator(_domain)]
NetAddress = Annotated[str, AfterValidator(_address)]
Color = Annotated[str, AfterValidator(_color)]
Iban = Annotated[str, AfterValidator(_iban)]
SshPublicKey = Annotated[str, AfterValidator(_ssh_key)]
UnixUser = Annotated[str, AfterValidator(_unix_user)]
VatId = Annotated[str, AfterValidator(_vat_id)]
Postcode = Annotated[str, AfterValidator(_postcode)]
Country = Annotated[str, AfterValidator(_country)]
Money = Annotated[LaxDecimal, AfterValidator(_money)]
Email = Annotated[str, Field(json_schema_extra={"format": "email"}), AfterValidator(_text), AfterValidator(_email)]
Url = Annotated[HttpUrl, BeforeValidator(_text_input)]
HttpsUrl = Annotated[HttpUrl, BeforeValidator(_text_input), AfterValidator(_https)]
RelativeFile = Annotated[str, Field(max_length=200), AfterValidator(_relative_file)]
NonEmpty = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_text)]


class PostalAddress(Strict):
    street: NonEmpty
    postcode: Postcode
    city: NonEmpty
    country: Country = "DE"

    def lines(self) -> list[str]:
        return [self.street, f"{self.postcode} {self.city}"] + ([] if self.country == "DE" else [self.country])
