"""Write picscribe's captions into XMP sidecars, merging with what is already there.

The target is ``photo.jpg.xmp`` (digiKam, darktable, Immich). When only a
Lightroom-style ``photo.xmp`` exists, that file is merged into instead, so the
user's photo manager keeps seeing one sidecar; this matches the reader
(``xmp_sidecar``), which prefers ``photo.jpg.xmp`` when both exist.

Merge, never replace: every other field and namespace of an existing sidecar
is kept. A text field is written only when it is empty or holds exactly the
text picscribe wrote there before, which the file itself records in the
picscribe namespace (a SHA-256 of each text written, and the keywords
picscribe added). Anything else is someone's own text: it is left alone and
reported as skipped. Keywords are merged: the user's stay, picscribe's are
added without repeats, and ones picscribe added earlier but no longer has
are taken out again.

An existing sidecar is parsed under the reader's safety rules (no DTD, no
entities, size limit) before anything is decided; one that fails raises
ValueError and is never touched. Writes go through a temp file in the same
folder and ``os.replace``, keeping the old file's mode.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .xmp_sidecar import MAX_XMP_SIDECAR_BYTES, parse_safely, xmp_sidecar_paths

PICSCRIBE_NS = "https://picscribe.dev/ns/1.0/"

_X = "adobe:ns:meta/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC = "http://purl.org/dc/elements/1.1/"
_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_XML = "http://www.w3.org/XML/1998/namespace"
_XML_LANG = f"{{{_XML}}}lang"
_CONTAINERS = {f"{{{_RDF}}}{kind}" for kind in ("Alt", "Bag", "Seq")}

#: Prefixes used when the file does not already name the namespace.
_PREFERRED = {
    _X: "x",
    _RDF: "rdf",
    _DC: "dc",
    _IPTC_EXT: "Iptc4xmpExt",
    PICSCRIBE_NS: "picscribe",
    "http://ns.adobe.com/lightroom/1.0/": "lr",
    "http://ns.adobe.com/xap/1.0/": "xmp",
}

#: (XMP property, picscribe property recording the hash of what was written)
TEXT_FIELDS = {
    "description": ((_DC, "description"), "descriptionHash"),
    "alt_text": ((_IPTC_EXT, "AltTextAccessibility"), "altTextHash"),
    "extended_description": ((_IPTC_EXT, "ExtDescrAccessibility"), "extDescrHash"),
}
_LABELS = {
    "description": "dc:description",
    "alt_text": "Iptc4xmpExt:AltTextAccessibility",
    "extended_description": "Iptc4xmpExt:ExtDescrAccessibility",
}
_WRITTEN_KEYWORDS = "subject"  # picscribe:subject: the dc:subject entries picscribe added

# Characters XML 1.0 cannot hold at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class SidecarContent:
    """What picscribe has to say about one image; None: that field is not written."""

    description: str | None = None
    alt_text: str | None = None
    extended_description: str | None = None
    keywords: tuple[str, ...] | None = None
    captioner: str = ""
    model: str = ""
    #: False when the text is a person's (a human caption in the index).
    generated: bool = True


@dataclass
class MergeResult:
    #: The new document; None when the sidecar already says all of it.
    data: bytes | None
    #: "FIELD holds text picscribe did not write", one per field left alone.
    skipped: list[str] = field(default_factory=list)


def sidecar_target(image_path: str) -> str:
    """The sidecar to write for ``image_path``: the existing ``photo.jpg.xmp``,
    else an existing ``photo.xmp`` (Lightroom), else a new ``photo.jpg.xmp``."""
    candidates = xmp_sidecar_paths(image_path)
    return next((c for c in candidates if os.path.lexists(c)), candidates[0])


def read_existing(path: str) -> bytes | None:
    """The sidecar's bytes, None when there is none; ValueError naming it when unreadable or too big."""
    name = os.path.basename(path)
    try:
        # O_NONBLOCK: a FIFO in the sidecar's place must not hang the batch.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"cannot read {name}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ValueError(f"{name} is not a regular file; not touched")
        data = f.read(MAX_XMP_SIDECAR_BYTES + 1)
    if len(data) > MAX_XMP_SIDECAR_BYTES:
        raise ValueError(
            f"{name} is over {MAX_XMP_SIDECAR_BYTES // (1024 * 1024)} MiB; not an XMP sidecar, not touched"
        )
    return data


def text_hash(text: str) -> str:
    """The hash recorded for a text field: of the text as readers see it (whitespace collapsed)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def picscribe_wrote(xmp: bytes | None, name: str, text: str) -> bool:
    """Whether the XMP document ``xmp`` records that picscribe wrote ``text``
    as a description (its ``picscribe:descriptionHash``).

    How the EXIF and IPTC copies of the description inside an image file
    are told apart from a person's text: they are written together with the
    XMP one, so picscribe's own text has its hash there.
    """
    if xmp is None or not text.strip():
        return False
    parse_safely(xmp, name)
    root, _prefixes = _tree_with_prefixes(xmp)
    rdf = root if root.tag == f"{{{_RDF}}}RDF" else next(root.iter(f"{{{_RDF}}}RDF"))
    return _simple_value(rdf, TEXT_FIELDS["description"][1]) == text_hash(text)


def merge_sidecar(existing: bytes | None, name: str, content: SidecarContent, written_at: str) -> MergeResult:
    """``content`` merged into the sidecar ``existing`` (None: a new one).

    Raises ValueError, naming ``name``, when ``existing`` is not safe, valid XMP.
    """
    if existing is None:
        root = ET.Element(f"{{{_X}}}xmpmeta")
        rdf = ET.SubElement(root, f"{{{_RDF}}}RDF")
        prefixes: dict[str, str] = {}
    else:
        parse_safely(existing, name)  # the reader's checks: no DTD or entities, valid XML, has rdf:RDF
        root, prefixes = _tree_with_prefixes(existing)
        rdf = root if root.tag == f"{{{_RDF}}}RDF" else next(root.iter(f"{{{_RDF}}}RDF"))
    desc = _description_node(rdf)
    result = MergeResult(data=None)
    changed = False
    for key, ((ns, local), hash_prop) in TEXT_FIELDS.items():
        text = getattr(content, key)
        if text is None or not (text := _clean(text)):
            continue
        state = _set_text(rdf, desc, ns, local, hash_prop, text)
        if state == "foreign":
            result.skipped.append(f"{_LABELS[key]} holds text picscribe did not write")
        changed |= state == "changed"
    if content.keywords is not None:
        state = _merge_keywords(rdf, desc, [k for k in map(_clean, content.keywords) if k])
        if state == "foreign":
            result.skipped.append("dc:subject is not an rdf:Bag; keywords not merged")
        changed |= state == "changed"
    if changed:
        for local, value in (
            ("captioner", content.captioner),
            ("model", content.model),
            ("generated", "True" if content.generated else "False"),
            ("written", written_at),
        ):
            _set_simple(rdf, desc, local, _clean(value))
        result.data = _serialize(root, prefixes)
    return result


def write_atomically(path: str, data: bytes) -> None:
    """Replace (or create) ``path`` with ``data`` through a temp file in its folder.

    A read-only existing file is refused (OSError), although the folder would
    let it be replaced: the user made it read-only for a reason.
    """
    try:
        mode: int | None = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    if mode is not None:
        try:  # opening for writing (no truncation) asks the kernel, ACLs and effective ids included
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except PermissionError as exc:
            raise PermissionError(exc.errno, f"{os.path.basename(path)} is read-only") from exc
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# -- the tree -------------------------------------------------------------------


def _tree_with_prefixes(data: bytes) -> tuple[ET.Element, dict[str, str]]:
    """The document (already checked DTD-free by ``parse_safely``) and the prefix it gives each namespace."""
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start-ns", "start"))
    parser.feed(data.strip(b"\x00 \t\r\n"))
    parser.close()
    prefixes: dict[str, str] = {}
    root: ET.Element | None = None
    for event in parser.read_events():
        value = event[1] if isinstance(event, tuple) and len(event) == 2 else None
        if isinstance(value, tuple):  # start-ns: (prefix, uri)
            prefix, uri = value[0], value[1]
            if prefix and uri not in prefixes:
                prefixes[str(uri)] = str(prefix)
        elif root is None and isinstance(value, ET.Element):
            root = value  # the first start event is the root element
    assert root is not None  # parse_safely has already found an element
    return root, prefixes


def _description_node(rdf: ET.Element) -> ET.Element:
    """Where new properties go: the first rdf:Description, made when there is none."""
    found = rdf.find(f"{{{_RDF}}}Description")
    if found is None:
        found = ET.SubElement(rdf, f"{{{_RDF}}}Description", {f"{{{_RDF}}}about": ""})
    return found


def _find(rdf: ET.Element, ns: str, local: str) -> tuple[ET.Element, ET.Element | None] | None:
    """The first occurrence of a property: (its rdf:Description, its element or None for the attribute form)."""
    key = f"{{{ns}}}{local}"
    for desc in rdf.iter(f"{{{_RDF}}}Description"):
        if key in desc.attrib:
            return desc, None
        prop = desc.find(key)
        if prop is not None:
            return desc, prop
    return None


def _simple_value(rdf: ET.Element, local: str) -> str | None:
    found = _find(rdf, PICSCRIBE_NS, local)
    if found is None:
        return None
    desc, prop = found
    return desc.attrib[f"{{{PICSCRIBE_NS}}}{local}"] if prop is None else "".join(prop.itertext()).strip()


def _set_simple(rdf: ET.Element, desc: ET.Element, local: str, value: str) -> None:
    found = _find(rdf, PICSCRIBE_NS, local)
    if found is not None and found[1] is None:
        found[0].attrib[f"{{{PICSCRIBE_NS}}}{local}"] = value
        return
    prop = found[1] if found is not None else ET.SubElement(desc, f"{{{PICSCRIBE_NS}}}{local}")
    assert prop is not None
    prop.clear()
    prop.text = value


def _lang_alt_text(desc: ET.Element, prop: ET.Element | None, key: str) -> str:
    """What a reader sees in the property: the x-default entry, else the first non-empty one."""
    if prop is None:
        return " ".join(desc.attrib[key].split())
    items = [li for container in prop if container.tag in _CONTAINERS for li in container]
    if not items:
        return " ".join("".join(prop.itertext()).split())
    items.sort(key=lambda li: li.get(_XML_LANG) != "x-default")
    return next((t for li in items if (t := " ".join("".join(li.itertext()).split()))), "")


def _set_text(rdf: ET.Element, desc: ET.Element, ns: str, local: str, hash_prop: str, text: str) -> str:
    """Write a language alternative: "changed", "same", or "foreign" (someone else's text, left alone)."""
    key = f"{{{ns}}}{local}"
    found = _find(rdf, ns, local)
    current = "" if found is None else _lang_alt_text(found[0], found[1], key)
    if current == " ".join(text.split()):
        return "same"  # already there word for word, whoever wrote it: nothing to do
    if current and _simple_value(rdf, hash_prop) != text_hash(current):
        return "foreign"
    if found is not None and found[1] is not None:
        # Other languages someone added beside picscribe's x-default entry stay.
        alt = found[1].find(f"{{{_RDF}}}Alt")
        default = None if alt is None else alt.find(f"{{{_RDF}}}li[@{{{_XML}}}lang='x-default']")
        if default is not None:
            default.clear()
            default.set(_XML_LANG, "x-default")
            default.text = text
            _set_simple(rdf, desc, hash_prop, text_hash(text))
            return "changed"
    if found is not None:
        owner, prop = found
        if prop is None:
            del owner.attrib[key]
        else:
            owner.remove(prop)
        at = owner
    else:
        at = desc
    prop = ET.SubElement(at, key)
    alt = ET.SubElement(prop, f"{{{_RDF}}}Alt")
    ET.SubElement(alt, f"{{{_RDF}}}li", {_XML_LANG: "x-default"}).text = text
    _set_simple(rdf, desc, hash_prop, text_hash(text))
    return "changed"


def _bag_items(prop: ET.Element) -> list[str]:
    return [" ".join("".join(li.itertext()).split()) for c in prop if c.tag in _CONTAINERS for li in c]


def _set_bag(parent: ET.Element, key: str, values: list[str]) -> None:
    prop = parent.find(key)
    if prop is None:
        prop = ET.SubElement(parent, key)
    prop.clear()
    bag = ET.SubElement(prop, f"{{{_RDF}}}Bag")
    for value in values:
        ET.SubElement(bag, f"{{{_RDF}}}li").text = value


def _merge_keywords(rdf: ET.Element, desc: ET.Element, ours: list[str]) -> str:
    """Merge ``ours`` into dc:subject: "changed", "same", or "foreign" (a form that is not a bag)."""
    key = f"{{{_DC}}}subject"
    found = _find(rdf, _DC, "subject")
    if found is not None and found[1] is None:
        return "foreign"
    owner, prop = found if found is not None else (desc, None)
    existing = _bag_items(prop) if prop is not None else []
    marker = _find(rdf, PICSCRIBE_NS, _WRITTEN_KEYWORDS)
    added_before = set(_bag_items(marker[1])) if marker is not None and marker[1] is not None else set()
    wanted = list(dict.fromkeys(ours))
    # Keywords picscribe added earlier and no longer has go; everyone else's stay.
    kept = [k for k in existing if k not in added_before or k in wanted]
    merged = list(dict.fromkeys([*kept, *wanted]))
    added_now = [k for k in merged if k in added_before or k not in existing]
    added_now = [k for k in added_now if k in wanted]
    if merged == existing and set(added_now) == added_before:
        return "same"
    if merged != existing:
        _set_bag(owner, key, merged)
    marker_owner = marker[0] if marker is not None else desc
    _set_bag(marker_owner, f"{{{PICSCRIBE_NS}}}{_WRITTEN_KEYWORDS}", added_now)
    return "changed"


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text).strip()


# -- serializing, with the file's own prefixes ----------------------------------


def _serialize(root: ET.Element, known: dict[str, str]) -> bytes:
    uris: list[str] = []
    for el in root.iter():
        for name in [el.tag, *el.attrib]:
            if name.startswith("{"):
                uri = name[1:].split("}", 1)[0]
                if uri != _XML and uri not in uris:
                    uris.append(uri)
    prefixes: dict[str, str] = {}
    taken: set[str] = {"xml"}
    for uri in uris:
        prefix = known.get(uri) or _PREFERRED.get(uri) or "ns0"
        n = 0
        while prefix in taken:
            prefix = f"ns{n}"
            n += 1
        prefixes[uri] = prefix
        taken.add(prefix)
    out: list[str] = ['<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n']
    _write_element(root, prefixes, out, 0, declare=True)
    out.append('\n<?xpacket end="w"?>\n')
    return "".join(out).encode()


def _qname(name: str, prefixes: dict[str, str]) -> str:
    if not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    return f"xml:{local}" if uri == _XML else f"{prefixes[uri]}:{local}"


def _escape(text: str, attribute: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:
        text = text.replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    return text


def _write_element(el: ET.Element, prefixes: dict[str, str], out: list[str], depth: int, *, declare: bool) -> None:
    pad = " " * depth
    attrs = [f'xmlns:{p}="{_escape(uri, True)}"' for uri, p in prefixes.items()] if declare else []
    attrs += [f'{_qname(k, prefixes)}="{_escape(v, True)}"' for k, v in el.attrib.items()]
    head = " ".join([_qname(el.tag, prefixes), *attrs])
    children = list(el)
    text = (el.text or "").strip() if children else (el.text or "")
    if not children and not text:
        out.append(f"{pad}<{head}/>")
        return
    if not children:
        out.append(f"{pad}<{head}>{_escape(text)}</{_qname(el.tag, prefixes)}>")
        return
    out.append(f"{pad}<{head}>")
    if text:  # mixed content is not XMP; kept rather than dropped
        out.append(_escape(text))
    for child in children:
        out.append("\n")
        _write_element(child, prefixes, out, depth + 1, declare=False)
        if child.tail and child.tail.strip():
            out.append(_escape(child.tail.strip()))
    out.append(f"\n{pad}</{_qname(el.tag, prefixes)}>")
