"""Email addresses: the one parser for the whole project.

Whatever puts an address on an envelope (compose's To, Cc and Bcc, a calendar's attendees) and
whatever judges one (provenance, contacts, the address book, the approval preview) reads it
here, so what the approval gate judges is exactly what is sent. Two entry points:

- :func:`parse` reads one address given as ``Name <local@domain>`` or ``local@domain`` (the
  standard library's :func:`email.utils.getaddresses` splits the name from the address) and
  raises :class:`AddressError` with a one-line reason when it is not exactly one valid one;
- :func:`find` finds every address in free text (a body, a subject, a comment); it never
  raises, and reports an address whose domain is not valid too (it must still be traced).

Both normalise the same way: Unicode NFKC (an address in fullwidth letters, with the fullwidth
at sign and full stop, is the plain ASCII one), invisible format characters dropped, the
ideographic full stops read as dots, and the domain through IDNA 2008 with UTS #46 mapping,
label by label, to its ASCII form (``example.com`` with a Cyrillic "a" is
``xn--exmple-4nf.com``), lower case. Local parts are ASCII dot-atoms (morrow does not send
SMTPUTF8); a domain must have a dot and valid labels (``evil_corp.example`` has none:
underscores are not allowed in a mail domain). Two addresses are the same when their
:attr:`Address.key` (the local part case-folded) is.

**Look-alikes** (Unicode TS #39): :func:`skeleton` maps every character to the prototype of its
confusables class, so ``jonas@example.com`` with a Cyrillic "a", ``jonas@exarnple.com`` and
``j0nas@example.com`` all have the skeleton of ``jonas@example.com``; :func:`lookalike` names
the trusted address an untrusted one imitates, and :func:`scripts_mixed` the scripts a label
mixes. The confusables data is Unicode's ``confusables.txt`` as the ``confusable-homoglyphs``
package ships it (loaded on first use: it costs about 90 ms).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from email.headerregistry import Address as HeaderAddress
from email.utils import getaddresses

import idna

# RFC 5322 atext, dot-separated: what morrow puts before the @ of an envelope address.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL = re.compile(rf"^{_ATEXT}+(?:\.{_ATEXT}+)*$")
# An address in free text: any word characters before and after the @ (non-ASCII and
# underscores included, so that what cannot be sent is still seen), a dot in the domain.
_LOCAL_CHARS = r"[\w!#$%&'*+/=?^`{|}~.-]"
_IN_TEXT = re.compile(rf"(?<![\w!#$%&'*+/=?^`{{|}}~.-])({_LOCAL_CHARS}+)@([\w-]+(?:\.[\w-]+)+)")
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


class AddressError(ValueError):
    """A value that is not exactly one valid email address; the message says why, on one line."""


@dataclass(frozen=True)
class Address:
    """One email address, normalised.

    Attributes:
        local: the part before the @ (ASCII for an address that can be sent).
        domain: the domain in ASCII (IDNA A-labels), lower case; for an address found in text
            whose domain is not valid, its NFKC lower-case form.
        name: the display name ("" when none).
        valid: whether the address could go on an envelope (:func:`parse` accepts it).
    """

    local: str
    domain: str
    name: str = ""
    valid: bool = True

    @property
    def spec(self) -> str:
        """``local@domain``: the address as it goes on the envelope."""
        return f"{self.local}@{self.domain}"

    @property
    def key(self) -> str:
        """What two addresses are compared by: the spec with the local part case-folded."""
        return f"{self.local.casefold()}@{self.domain}"

    @property
    def unicode_domain(self) -> str:
        """The domain as people read it (A-labels decoded); the domain itself when ASCII."""
        if "xn--" not in self.domain:
            return self.domain
        try:
            return str(idna.decode(self.domain))
        except idna.IDNAError:
            return self.domain

    @property
    def readable(self) -> str:
        """The spec as people read it: the domain's A-labels decoded to Unicode."""
        return f"{self.local}@{self.unicode_domain}"

    @property
    def shown(self) -> str:
        """The spec for an approval prompt: an encoded domain is shown decoded beside it."""
        if self.readable == self.spec:
            return self.spec
        return f"{self.spec} (reads as {self.readable})"

    def header(self) -> HeaderAddress:
        """The address as the standard library's header registry writes it."""
        return HeaderAddress(display_name=self.name, username=self.local, domain=self.domain)

    def __str__(self) -> str:
        return str(self.header()) if self.name else self.spec


def clean(text: str) -> str:
    """``text`` as addresses are read from it: NFKC, no format characters, dots as dots."""
    folded = unicodedata.normalize("NFKC", text).translate(_DOTS)
    return "".join(c for c in folded if unicodedata.category(c) != "Cf")


def parse(value: str) -> Address:
    """Exactly one address, ``Name <local@domain>`` or ``local@domain``, normalised.

    Raises:
        AddressError: the value is not exactly one valid address (the reason, one line).
    """
    if "\n" in value or "\r" in value:
        raise AddressError(f"{value!r} is not one valid email address (it has a line break)")
    text = clean(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    pairs = getaddresses([text])
    if len(pairs) != 1 or "@" not in pairs[0][1]:
        raise AddressError(f"{value!r} is not one valid email address")
    name, spec = pairs[0]
    local, _, domain = spec.rpartition("@")
    if not local.isascii():
        raise AddressError(f"{spec!r}: addresses with a non-ASCII local part are not supported")
    if not _LOCAL.match(local):
        raise AddressError(f"{spec!r} is not a valid email address (the part before the @)")
    return Address(local, _domain(domain, spec), " ".join(name.split()))


def parse_key(value: str) -> str | None:
    """The :attr:`Address.key` of a header value such as ``Name <address>``; None if invalid."""
    try:
        return parse(value).key
    except AddressError:
        return None


def find(text: str) -> list[Address]:
    """Every address in free text, in order, once each (by key); never raises."""
    found: dict[str, Address] = {}
    for match in _IN_TEXT.finditer(clean(text)):
        local, domain = match.group(1).strip("."), match.group(2)
        if not local:
            continue
        try:
            address = Address(local, _domain(domain, f"{local}@{domain}"))
            if not local.isascii() or not _LOCAL.match(local):
                address = Address(local, address.domain, valid=False)
        except AddressError:
            address = Address(local, domain.casefold(), valid=False)
        found.setdefault(address.key, address)
    return list(found.values())


def _domain(domain: str, spec: str) -> str:
    """The domain's ASCII form (IDNA 2008, UTS #46), lower case; AddressError if invalid."""
    domain = domain.rstrip(".")
    if "." not in domain:
        raise AddressError(f"{spec!r} is not a valid email address (the domain needs a dot)")
    try:
        return str(idna.encode(domain, uts46=True).decode("ascii")).lower()
    except (idna.IDNAError, UnicodeError) as exc:
        raise AddressError(f"{spec!r} has an invalid domain ({exc})") from None


# -- look-alikes ---------------------------------------------------------------------------


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each confusable character's prototype (TS #39), from confusable-homoglyphs' table.

    The package keeps confusables.txt both ways: a source character lists its one prototype,
    a prototype lists every source. A pair that only knows each other is read as one class
    standing for the smaller of the two.
    """
    from confusable_homoglyphs import confusables

    data: dict[str, list[dict[str, str]]] = confusables.confusables_data
    table: dict[str, str] = {}
    for char, glyphs in data.items():
        if len(char) != 1 or len(glyphs) != 1:
            continue
        target = glyphs[0]["c"].replace("\u200e", "")
        if len(target) > 1 or len(data.get(target, ())) > 1:
            table[char] = target
        elif target:
            table[char] = min(char, target)
    return table


def skeleton(text: str) -> str:
    """The TS #39 skeleton of ``text``, case-folded: equal skeletons look alike."""
    table = _prototypes()
    mapped = "".join(table.get(c, c) for c in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped).casefold()


def plain(text: str) -> str:
    """``text`` with each look-alike replaced by its ASCII prototype where it has one.

    A search hint, not a comparison: it finds ``example.com`` from a look-alike of it in an
    index that only matches substrings (accents and marks are dropped too).
    """
    table = _prototypes()
    out = []
    for char in unicodedata.normalize("NFD", text):
        mapped = table.get(char, char)
        if unicodedata.combining(char):
            continue
        out.append(mapped if mapped.isascii() else char)
    return "".join(out).casefold()


def address_skeleton(address: Address) -> str:
    """The skeleton of an address as people read it."""
    return skeleton(address.readable)


def lookalike(address: Address, trusted: Iterable[Address]) -> Address | None:
    """The trusted address that ``address`` imitates (same skeleton, other address), or None."""
    mine = address_skeleton(address)
    for other in trusted:
        if other.key != address.key and address_skeleton(other) == mine:
            return other
    return None


def scripts_mixed(address: Address) -> list[str]:
    """The scripts a label of the address mixes (e.g. ["CYRILLIC", "LATIN"]); [] when none."""
    if address.readable.isascii():
        return []
    from confusable_homoglyphs import categories

    for label in (address.local, *address.unicode_domain.split(".")):
        scripts = categories.unique_aliases(label) - {"COMMON", "INHERITED"}
        if len(scripts) > 1:
            return sorted(scripts)
    return []
