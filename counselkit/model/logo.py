"""A centre's logo (branding.logo): a PNG or SVG next to tenants.yaml, checked as hostile input.

The file ends up in the tenant's web root and on every help-seeker's screen, so `validate` refuses what could
read files outside the tenants directory (absolute paths, '..', symlinks out), exhaust a browser (huge files or
pixel counts) or run code (SVG with script, event handlers, external references)."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from .. import layout
from .types import _relative_file

LOGO_MAX_BYTES = 256 * 1024  # a logo is a few KiB; this leaves room for a detailed SVG
LOGO_MAX_PIXELS = 4096  # per side of a PNG: more is a decompression bomb, not a logo
_NAME = re.compile(r"[A-Za-z0-9._/-]+")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"
# Elements that run code, embed other documents or load other resources; an <img> would not run a script, but
# the same file opened on its own would, on the tenant's origin.
_SVG_FORBIDDEN_ELEMENTS = frozenset({"script", "foreignobject", "iframe", "embed", "object", "audio", "video",
                                     "image", "feimage", "animate", "set", "animatemotion", "animatetransform",
                                     "handler", "listener", "a"})
_EXTERNAL_REFERENCE = re.compile(r"url\(\s*['\"]?\s*(?!#)|@import|javascript:|expression\(", re.IGNORECASE)


def _logo_name(value: str) -> str:
    _relative_file(value)
    suffix = value[value.rfind("."):].lower() if "." in value else ""
    if not _NAME.fullmatch(value) or suffix not in layout.LOGO_TYPES:
        raise ValueError(f"'{value}' is not an accepted logo file name: letters, digits, '.', '_', '-' and '/', "
                         f"ending in {' or '.join(layout.LOGO_TYPES)}")
    return value


LogoFile = Annotated[str, Field(max_length=200), AfterValidator(_logo_name)]


def logo_problem(base_dir: Path, name: str) -> str | None:
    """What is wrong with the logo file `name` below `base_dir`, or None when the web app may show it."""
    root = base_dir.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        return f"'{name}' leads outside the directory of tenants.yaml (a symbolic link?); copy the logo next to it"
    if not path.is_file():
        return f"file '{name}' not found next to tenants.yaml"
    with path.open("rb") as handle:
        data = handle.read(LOGO_MAX_BYTES + 1)
    if len(data) > LOGO_MAX_BYTES:
        return f"'{name}' is larger than {LOGO_MAX_BYTES // 1024} KiB; a logo needs a few KiB"
    check = _png_problem if name.lower().endswith(".png") else _svg_problem
    problem = check(data)
    return f"'{name}' {problem}" if problem else None


def _png_problem(data: bytes) -> str | None:
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        return "is not a PNG image (its first bytes are not a PNG signature and header)"
    width, height = struct.unpack(">II", data[16:24])
    if not (1 <= width <= LOGO_MAX_PIXELS and 1 <= height <= LOGO_MAX_PIXELS):
        return f"is {width}x{height} pixels; at most {LOGO_MAX_PIXELS} per side"
    return None


def _svg_problem(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text, so not an accepted SVG"
    lowered = text.lower()
    # No DTD means no entity expansion (billion laughs, external entities): the parser never sees one.
    if "<!doctype" in lowered or "<!entity" in lowered or "<?xml-stylesheet" in lowered:
        return "has a DOCTYPE, ENTITY or style sheet declaration; export a plain SVG without them"
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        return f"is not well-formed XML ({exc})"
    if root.tag != f"{_SVG_NAMESPACE}svg":
        return "is not an SVG image (its root element is not <svg> in the SVG namespace)"
    for element in root.iter():
        problem = _svg_element_problem(element)
        if problem:
            return problem
    return None


def _svg_element_problem(element: ElementTree.Element) -> str | None:
    local = element.tag.rsplit("}", 1)[-1].lower() if isinstance(element.tag, str) else ""
    if local in _SVG_FORBIDDEN_ELEMENTS:
        return f"contains <{local}>, which can run code or load other content; remove it"
    if local == "style" and _EXTERNAL_REFERENCE.search(element.text or ""):
        return "has a <style> that loads other content (url(), @import); only url(#...) is allowed"
    for attribute, value in element.attrib.items():
        name = attribute.rsplit("}", 1)[-1].lower()
        if name.startswith("on"):
            return f"has an event handler attribute '{name}' on <{local}>; remove it"
        if name == "href" and not value.strip().startswith("#"):
            return f"<{local}> refers to '{value[:60]}'; only references inside the file (#id) are allowed"
        if _EXTERNAL_REFERENCE.search(value):
            return f"<{local}> attribute '{name}' loads other content; only url(#...) is allowed"
    return None
