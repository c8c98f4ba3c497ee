"""Read and write the text embedded in an image file, through exiftool.

exiftool (Phil Harvey's, Debian package ``libimage-exiftool-perl``) is the
tool photo software trusts to edit metadata in place without touching the
image data, for every format it supports; picscribe drives it as a
subprocess rather than reimplementing JPEG, PNG, TIFF and HEIF containers.

Writing never edits the photo in place. The file is copied to a temp file in
its folder, exiftool edits the copy, the copy's pixels are decoded and
compared with the original's, and only then does the copy replace the
original (``os.replace``, keeping its mode). A failure anywhere leaves the
original as it was and the temp file removed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from PIL import Image

INSTALL_HINT = (
    "exiftool is not installed; it is needed for --to file "
    "(Debian/Ubuntu: apt install libimage-exiftool-perl; macOS: brew install exiftool)"
)
#: Where to find exiftool when it is not on PATH.
EXIFTOOL_ENV = "PICSCRIBE_EXIFTOOL"
_TIMEOUT_S = 120


class ExiftoolMissing(RuntimeError):
    """exiftool cannot be found; the message says how to install it."""


class EmbedError(ValueError):
    """This file could not be read or written; the message says why, the file is unchanged."""


@dataclass(frozen=True)
class EmbeddedText:
    """The description fields inside one image file, as exiftool reads them."""

    #: The file's XMP packet; None when it has none.
    xmp: bytes | None
    #: EXIF ImageDescription (IFD0); "" when absent.
    image_description: str
    #: Whether the file has an IPTC record at all: picscribe adds IPTC only where it exists.
    has_iptc: bool
    #: IPTC Caption-Abstract; "" when absent.
    iptc_caption: str


@dataclass(frozen=True)
class EmbeddedUpdate:
    """What to write into one file; None leaves that field alone."""

    xmp: bytes | None = None
    image_description: str | None = None
    iptc_caption: str | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.xmp, self.image_description, self.iptc_caption))


def exiftool_command() -> str:
    """The exiftool executable; ExiftoolMissing, with the install hint, when there is none."""
    found = shutil.which(os.environ.get(EXIFTOOL_ENV) or "exiftool")
    if found is None:
        raise ExiftoolMissing(INSTALL_HINT)
    return found


def read_embedded(path: str) -> EmbeddedText:
    """The description fields in the image at ``path`` (absolute)."""
    out = _exiftool(["-json", "-b", "-G1", "-XMP", "-EXIF:ImageDescription", "-IPTC:All", path], "read")
    try:
        (tags,) = json.loads(out or "[{}]")
    except (ValueError, TypeError) as exc:
        raise EmbedError(f"exiftool gave output picscribe cannot read: {exc}") from exc
    xmp = tags.get("XMP:XMP")
    return EmbeddedText(
        xmp=_binary(xmp) if xmp else None,
        image_description=str(tags.get("IFD0:ImageDescription") or ""),
        has_iptc=any(str(key).startswith("IPTC:") for key in tags),
        iptc_caption=str(tags.get("IPTC:Caption-Abstract") or ""),
    )


def write_embedded(path: str, update: EmbeddedUpdate) -> None:
    """Write ``update`` into the image at ``path`` (absolute), pixels untouched.

    Raises EmbedError, with the file unchanged, when the file or its folder
    is read-only, exiftool cannot write its format, or the pixels came out
    different.
    """
    if not update:
        return
    _check_writable(path)
    folder, name = os.path.split(path)
    suffix = os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=f".picscribe{suffix}")
    os.close(fd)
    xmp_file: str | None = None
    try:
        shutil.copyfile(path, tmp)
        args = ["-overwrite_original", "-charset", "UTF8"]
        if update.xmp is not None:
            with tempfile.NamedTemporaryFile("wb", suffix=".xmp", delete=False) as f:
                f.write(update.xmp)
                xmp_file = f.name
            args.append(f"-XMP<={xmp_file}")
        if update.image_description is not None:
            args.append(f"-EXIF:ImageDescription={update.image_description}")
        if update.iptc_caption is not None:
            # Without it, readers take IPTC text as Latin-1.
            args += ["-IPTC:CodedCharacterSet=UTF8", f"-IPTC:Caption-Abstract={update.iptc_caption}"]
        _exiftool([*args, tmp], "write")
        if not same_pixels(path, tmp):
            raise EmbedError("exiftool changed the image data; the original was kept")
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        # On disk before the rename: a crash must leave the old photo or the
        # new one, never a renamed file whose data was still in the page cache.
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(folder or ".")
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    finally:
        if xmp_file is not None:
            os.unlink(xmp_file)


def _fsync(path: str) -> None:
    """Flush a file's data, or a folder's entries (the rename), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def same_pixels(a: str, b: str) -> bool:
    """Whether two image files decode to the same pixels (the first frame, as stored)."""
    with Image.open(a) as first, Image.open(b) as second:
        if (first.mode, first.size) != (second.mode, second.size):
            return False
        return bool(first.tobytes() == second.tobytes())


def _check_writable(path: str) -> None:
    """Refuse a read-only file or folder, even to root: the user made it so for a reason."""
    name = os.path.basename(path)
    try:
        # Opening for writing (no truncation) asks the kernel, ACLs and effective ids included.
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as exc:
        raise EmbedError(f"{name} is read-only" if isinstance(exc, PermissionError) else str(exc)) from exc
    if not os.stat(path).st_mode & 0o222:
        raise EmbedError(f"{name} is read-only")
    folder = os.path.dirname(path) or "."
    if not os.access(folder, os.W_OK) or not os.stat(folder).st_mode & 0o222:
        raise EmbedError(f"{os.path.basename(folder) or folder} (the folder) is read-only")


def _exiftool(args: list[str], doing: str) -> str:
    """Run exiftool; its error lines become an EmbedError saying what went wrong."""
    try:
        done = subprocess.run(
            [exiftool_command(), *args],
            capture_output=True,
            timeout=_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise EmbedError(f"exiftool took over {_TIMEOUT_S} s") from exc
    stderr = done.stderr.decode("utf-8", "replace")
    errors = [line.removeprefix("Error: ").split(" - /")[0] for line in stderr.splitlines() if line.startswith("Error")]
    if done.returncode != 0 or errors:
        reason = "; ".join(errors) or stderr.strip() or f"exit status {done.returncode}"
        raise EmbedError(f"exiftool cannot {doing} this file: {reason}")
    return done.stdout.decode("utf-8", "replace")


def _binary(value: object) -> bytes:
    """exiftool's JSON gives binary values as "base64:..." and text as text."""
    text = str(value)
    if text.startswith("base64:"):
        return base64.b64decode(text[len("base64:") :])
    return text.encode()
