"""Field types shared by the platform and tenant models, each with an error message that says what is allowed."""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, HttpUrl

SLUG_MAX = 28  # "mx-" + slug must fit Linux's 32-character user names
RESERVED_SLUGS = frozenset(
    {"www", "mail", "smtp", "imap", "admin", "auth", "sso", "keycloak", "id", "login", "matrix", "api",
     "status", "static", "cdn", "ns1", "ns2", "mx", "autoconfig", "autodiscover", "webmail", "backup",
     "monitoring", "metrics", "element", "app", "test", "localhost"}
)
_LABEL = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_SSH_KEY = re.compile(
    r"^(ssh-ed25519|sk-ssh-ed25519@openssh\.com|ecdsa-sha2-nistp(256|384|521)|sk-ecdsa-sha2-nistp256@openssh\.com|ssh-rsa)"
    r" [A-Za-z0-9+/]+={0,3}( [^\n]*)?$"
)
_UNIX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_VAT_ID = re.compile(r"^[A-Z]{2}[0-9A-Z+*.]{2,12}$")
_POSTCODE = re.compile(r"^[0-9A-Z -]{3,10}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _slug(value: str) -> str:
    if not (2 <= len(value) <= SLUG_MAX) or not _LABEL.match(value) or "--" in value:
        raise ValueError(
            f"'{value}' is not a valid slug: use 2-{SLUG_MAX} lowercase letters, digits and single '-', "
            "starting with a letter and not ending with '-' (it becomes the DNS name <slug>.<domain>)"
        )
    if value in RESERVED_SLUGS:
        raise ValueError(f"'{value}' is reserved for the platform; choose another slug")
    return value


def _host_name(value: str) -> str:
    if not (1 <= len(value) <= 63) or not _LABEL.match(value):
        raise ValueError(f"'{value}' is not a valid host name: lowercase letters, digits and '-', starting with a letter")
    return value


def _domain(value: str) -> str:
    labels = value.split(".")
    if len(value) > 200 or len(labels) < 2 or not all(_LABEL.match(label) or label.isdigit() for label in labels):
        raise ValueError(f"'{value}' is not a valid DNS domain such as beratung.example.org (lowercase)")
    return value


def _address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    try:
        return _domain(value)
    except ValueError:
        raise ValueError(f"'{value}' is neither an IP address nor a DNS name") from None


def _color(value: str) -> str:
    if not _COLOR.match(value):
        raise ValueError(f"'{value}' is not a colour: use six hex digits like #00519e")
    return value.lower()


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
    if not _SSH_KEY.match(value.strip()):
        raise ValueError("not an OpenSSH public key: expected 'ssh-ed25519 AAAA... comment' (or ecdsa/rsa) on one line")
    return value.strip()


def _unix_user(value: str) -> str:
    if not _UNIX_USER.match(value) or value in {"root", "daemon", "bin", "sys", "nobody", "postgres", "www-data"}:
        raise ValueError(f"'{value}' is not usable as a login name: lowercase letters, digits, '_' or '-', at most 32, not a system account")
    return value


def _vat_id(value: str) -> str:
    if not _VAT_ID.match(value):
        raise ValueError(f"'{value}' is not a VAT identification number such as DE123456789")
    return value


def _postcode(value: str) -> str:
    if not _POSTCODE.match(value):
        raise ValueError(f"'{value}' is not a postcode")
    return value


def _country(value: str) -> str:
    import pycountry  # the ISO 3166-1 list itself: "XX" has the right shape but is no country

    if not _COUNTRY.match(value) or pycountry.countries.get(alpha_2=value) is None:
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code such as DE")
    return value


def _money(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError("must be an amount of zero or more, such as 49.00")
    if value != value.quantize(Decimal("0.0001")):
        raise ValueError("has more than four decimal places")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
HostName = Annotated[str, AfterValidator(_host_name)]
Domain = Annotated[str, AfterValidator(_domain)]
NetAddress = Annotated[str, AfterValidator(_address)]
Color = Annotated[str, AfterValidator(_color)]
Iban = Annotated[str, AfterValidator(_iban)]
SshPublicKey = Annotated[str, AfterValidator(_ssh_key)]
UnixUser = Annotated[str, AfterValidator(_unix_user)]
VatId = Annotated[str, AfterValidator(_vat_id)]
Postcode = Annotated[str, AfterValidator(_postcode)]
Country = Annotated[str, AfterValidator(_country)]
Money = Annotated[Decimal, AfterValidator(_money)]
Email = EmailStr
Url = HttpUrl
NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


class PostalAddress(Strict):
    street: NonEmpty
    postcode: Postcode
    city: NonEmpty
    country: Country = "DE"

    def lines(self) -> list[str]:
        return [self.street, f"{self.postcode} {self.city}"] + ([] if self.country == "DE" else [self.country])
