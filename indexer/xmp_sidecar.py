"""Read the XMP sidecar files that photo managers keep next to an image.

Two conventions exist, and both are read:

- ``photo.jpg.xmp``: digiKam, darktable and Immich (the whole file name plus
  ``.xmp``, so ``photo.jpg`` and ``photo.cr2`` each get their own);
- ``photo.xmp``: Lightroom and Bridge (the stem plus ``.xmp``).

When both exist, ``photo.jpg.xmp`` wins: it can only belong to this image,
while ``photo.xmp`` may be shared with a RAW file of the same name. The other
file is then not read at all, so two sidecars are never mixed.

The file is someone else's, possibly hostile: it is parsed with expat
directly so that any DTD is refused before it can declare an entity (no
billion laughs, no external entities, whatever the encoding), and files
over ``MAX_XMP_SIDECAR_BYTES`` are not parsed at all. Every problem is a
``ValueError`` naming the file, which the pipeline records against that
image only.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import NoReturn
from xml.parsers import expat

#: Real sidecars are a few KiB; digiKam's with face regions and history
#: stay well under 1 MiB. Anything this big is not a sidecar.
MAX_XMP_SIDECAR_BYTES = 4 * 1024 * 1024

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC = "http://purl.org/dc/elements/1.1/"
_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_LR = "http://ns.adobe.com/lightroom/1.0/"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_CONTAINERS = {f"{{{_RDF}}}{kind}" for kind in ("Alt", "Bag", "Seq")}


@dataclass(frozen=True)
class XmpSidecar:
    """The fields of one sidecar that picscribe uses; "" / () when absent."""

    path: str
    description: str = ""
    title: str = ""
    alt_text: str = ""
    extended_description: str = ""
    #: ``dc:subject`` keywords, then the leaf of each ``lr:hierarchicalSubject``
    #: path not already among them; in file order, without repeats.
    keywords: tuple[str, ...] = ()


def xmp_sidecar_paths(image_path: str) -> list[str]:
    """Sidecar files for ``image_path``, the preferred convention first."""
    candidates = [image_path + ".xmp", os.path.splitext(image_path)[0] + ".xmp"]
    return [c for i, c in enumerate(candidates) if c != image_path and c not in candidates[:i]]


def find_xmp_sidecar(image_path: str) -> XmpSidecar | None:
    """The first sidecar of ``image_path`` that exists, parsed; None when there is none.

    Raises ValueError, naming the file, when it exists but cannot be read,
    is too big, is not XML, or carries a DTD.
    """
    for path in xmp_sidecar_paths(image_path):
        data = _read(path)
        if data is not None:
            return parse_xmp_sidecar(data, path)
    return None


def parse_xmp_sidecar(data: bytes, path: str) -> XmpSidecar:
    """The fields of the XMP document ``data``, read from ``path`` (named in errors)."""
    name = os.path.basename(path)
    root = parse_safely(data, name)
    keywords = _values(root, _DC, "subject")
    # Lightroom writes "Places|France|Paris". Only the leaf is kept: a tag is
    # a label for what is in the picture, and the upper levels are the
    # user's filing scheme (Lightroom also copies them into dc:subject when
    # they are meant to be keywords, so nothing the user exports is lost).
    leaves = [leaf for path_ in _values(root, _LR, "hierarchicalSubject") if (leaf := path_.split("|")[-1].strip())]
    return XmpSidecar(
        path=path,
        description=_lang_alt(root, _DC, "description"),
        title=_lang_alt(root, _DC, "title"),
        alt_text=_lang_alt(root, _IPTC_EXT, "AltTextAccessibility"),
        extended_description=_lang_alt(root, _IPTC_EXT, "ExtDescrAccessibility"),
        keywords=tuple(dict.fromkeys(k for k in [*keywords, *leaves] if k)),
    )


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_XMP_SIDECAR_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ValueError(f"cannot read {os.path.basename(path)}: {exc.strerror or exc}") from exc
    if len(data) > MAX_XMP_SIDECAR_BYTES:
        raise ValueError(
            f"{os.path.basename(path)} is over {MAX_XMP_SIDECAR_BYTES // (1024 * 1024)} MiB; that is not an XMP sidecar"
        )
    return data


class _Refused(Exception):
    pass


def parse_safely(data: bytes, name: str) -> ET.Element:
    """``data`` as an element tree, refusing DTDs and entities; ValueError naming ``name``.

    The one XMP parser: the sidecar reader and the writer (merging into an
    existing sidecar) share it, so both refuse the same hostile files.
    """
    # xpacket wrappers and trailing padding are legal around the document.
    data = data.strip(b"\x00 \t\r\n")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")

    def refuse(*_: object) -> NoReturn:
        raise _Refused

    # XMP never has a DTD. Refusing one as soon as it starts means no entity
    # is ever declared, so none can be expanded, internal or external.
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = lambda tag, attrs: builder.start(_clark(tag), {_clark(k): v for k, v in attrs.items()})
    parser.EndElementHandler = lambda tag: builder.end(_clark(tag))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
        root = builder.close()
    except _Refused:
        raise ValueError(f"{name} declares a DTD or entities, which XMP never does; not read") from None
    except (expat.ExpatError, AssertionError) as exc:  # AssertionError: TreeBuilder with no root
        raise ValueError(f"{name} is not valid XML: {exc}") from None
    if not any(True for _ in root.iter(f"{{{_RDF}}}RDF")) and root.tag != f"{{{_RDF}}}RDF":
        raise ValueError(f"{name} is XML but not XMP (no rdf:RDF)")
    return root


def _clark(name: str) -> str:
    """expat's ``uri}local`` as ElementTree's ``{uri}local``."""
    return "{" + name if "}" in name else name


def _properties(root: ET.Element, ns: str, local: str) -> list[str | ET.Element]:
    """Every occurrence of the property, as an attribute value or an element."""
    key = f"{{{ns}}}{local}"
    found: list[str | ET.Element] = []
    for desc in root.iter(f"{{{_RDF}}}Description"):
        if key in desc.attrib:  # the short form: <rdf:Description dc:title="...">
            found.append(desc.attrib[key])
        found.extend(desc.findall(key))
    return found


def _text(node: ET.Element) -> str:
    return " ".join("".join(node.itertext()).replace("\x00", "").split())


def _lang_alt(root: ET.Element, ns: str, local: str) -> str:
    """A language alternative: the x-default entry, else the first non-empty one."""
    for prop in _properties(root, ns, local):
        if isinstance(prop, str):
            if text := " ".join(prop.split()):
                return text
            continue
        items = [li for container in prop if container.tag in _CONTAINERS for li in container]
        if not items:  # a plain literal where the spec asks for rdf:Alt
            if text := _text(prop):
                return text
            continue
        items.sort(key=lambda li: li.get(_XML_LANG) != "x-default")  # stable: x-default, then file order
        for li in items:
            if text := _text(li):
                return text
    return ""


def _values(root: ET.Element, ns: str, local: str) -> list[str]:
    """An rdf:Bag / rdf:Seq of text (or a lone literal), in file order."""
    values: list[str] = []
    for prop in _properties(root, ns, local):
        if isinstance(prop, str):
            # Not valid for a bag, but some tools write "a, b" as an attribute.
            values.extend(v for part in prop.split(",") if (v := " ".join(part.split())))
            continue
        items = [li for container in prop if container.tag in _CONTAINERS for li in container]
        values.extend(t for node in (items or [prop]) if (t := _text(node)))
    return values
