"""Reading the files inside an uploaded archive (.zip, .tar.gz) or a folder, safely.

Nothing is ever extracted to disk: members are read into memory one at a time. An archive is still
refused whole (ImportFileError) when it looks hostile: a member path that is absolute or climbs out
with "..", a link or device entry, more files or more uncompressed bytes than any real EP data set
(zip and tar bombs), or an encrypted member. Limits are checked on the bytes actually read, not
only on the sizes the archive declares, since those can lie.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from contacts.records import ImportFileError


@dataclass(frozen=True)
class ArchiveLimits:
    """The most an archive may hold. The EP API's terms 9 and 10 are 1,266 files and 24 MB."""

    max_files: int = 10_000
    max_total_bytes: int = 256 * 1024 * 1024
    max_file_bytes: int = 8 * 1024 * 1024


DEFAULT_LIMITS = ArchiveLimits()
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
GZIP_MAGIC = b"\x1f\x8b"


def _fail(filename: str | None, message: str) -> ImportFileError:
    return ImportFileError(f"{filename or 'the archive'}: {message}")


def check_member_path(name: str, filename: str | None) -> str:
    """The member's path with "/" separators; raises when it is absolute or climbs out with "..".

    Nothing is written to disk, so such a path could do no harm here; but no genuine export holds
    one, and refusing the whole archive says so plainly.
    """
    path = name.replace("\\", "/")
    if "\0" in path or path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise _fail(filename, f"refused: the archive holds an absolute path ({name!r})")
    if ".." in PurePosixPath(path).parts:
        raise _fail(filename, f"refused: a path in the archive climbs out of it ({name!r})")
    return path


def wanted(path: str, suffixes: tuple[str, ...]) -> bool:
    """Whether to read a member: the right suffix, and not macOS's ``__MACOSX/`` or ``._`` clutter."""
    parts = PurePosixPath(path).parts
    if not parts or parts[0] == "__MACOSX" or parts[-1].startswith("._"):
        return False
    return path.lower().endswith(suffixes)


class _Budget:
    """Counts files and bytes across an archive and refuses the archive past the limits."""

    def __init__(self, limits: ArchiveLimits, filename: str | None) -> None:
        self.limits = limits
        self.filename = filename
        self.files = 0
        self.total = 0

    def count_file(self) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise _fail(
                self.filename,
                f"refused: the archive holds more than {self.limits.max_files:,} files",
            )

    def read(self, stream: IO[bytes], name: str) -> bytes:
        data = stream.read(self.limits.max_file_bytes + 1)
        if len(data) > self.limits.max_file_bytes:
            raise _fail(
                self.filename,
                f"refused: {name!r} is larger than {self.limits.max_file_bytes:,} bytes "
                "uncompressed",
            )
        self.total += len(data)
        if self.total > self.limits.max_total_bytes:
            raise _fail(
                self.filename,
                f"refused: the archive holds more than {self.limits.max_total_bytes:,} bytes "
                "uncompressed (a zip bomb?)",
            )
        return data


def count_zip_members(
    source: Path | bytes | IO[bytes],
    suffixes: tuple[str, ...],
    *,
    filename: str | None = None,
) -> int:
    """How many members of a zip archive `iter_zip` would yield (for progress totals)."""
    with _open_zip(source, filename) as archive:
        return sum(
            1
            for info in archive.infolist()
            if not info.is_dir() and wanted(info.filename, suffixes)
        )


def _open_zip(source: Path | bytes | IO[bytes], filename: str | None) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise _fail(filename, f"not a readable zip archive ({exc})") from exc


def iter_zip(
    source: Path | bytes | IO[bytes],
    suffixes: tuple[str, ...],
    *,
    filename: str | None = None,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> Iterator[tuple[str, bytes]]:
    """Yield (path, content) of the zip's members whose names end with one of `suffixes`."""
    budget = _Budget(limits, filename)
    with _open_zip(source, filename) as archive:
        infos = archive.infolist()
        # Checked before reading anything: the declared sizes already tell of most bombs.
        if len(infos) > limits.max_files:
            raise _fail(
                filename, f"refused: the archive holds more than {limits.max_files:,} files"
            )
        declared = sum(info.file_size for info in infos)
        if declared > limits.max_total_bytes:
            raise _fail(
                filename,
                f"refused: the archive declares {declared:,} bytes uncompressed, more than "
                f"{limits.max_total_bytes:,} (a zip bomb?)",
            )
        for info in infos:
            path = check_member_path(info.filename, filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _fail(filename, f"refused: the archive holds a link ({info.filename!r})")
            if info.is_dir():
                continue
            budget.count_file()
            if not wanted(path, suffixes):
                continue
            if info.flag_bits & 0x1:
                raise _fail(filename, f"refused: {info.filename!r} is encrypted")
            try:
                with archive.open(info) as stream:
                    data = budget.read(stream, info.filename)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise _fail(filename, f"cannot read {info.filename!r} ({exc})") from exc
            yield path, data


def iter_tar(
    source: Path | bytes | IO[bytes],
    suffixes: tuple[str, ...],
    *,
    filename: str | None = None,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> Iterator[tuple[str, bytes]]:
    """Yield (path, content) of the tar's (.tar, .tar.gz, .tgz) regular files with `suffixes`.

    The archive is read as a stream, in one pass, so the number of files is not known in advance.
    """
    budget = _Budget(limits, filename)
    try:
        if isinstance(source, Path):
            archive = tarfile.open(source, mode="r:*")  # noqa: SIM115 - closed below
        else:
            stream = io.BytesIO(source) if isinstance(source, bytes) else source
            archive = tarfile.open(fileobj=stream, mode="r:*")  # noqa: SIM115
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise _fail(filename, f"not a readable tar archive ({exc})") from exc
    with archive:
        try:
            for member in archive:
                path = check_member_path(member.name, filename)
                if member.issym() or member.islnk():
                    raise _fail(
                        filename,
                        f"refused: the archive holds a link ({member.name!r} -> "
                        f"{member.linkname!r})",
                    )
                if member.isdir():
                    continue
                if not member.isfile():
                    raise _fail(filename, f"refused: {member.name!r} is not a regular file")
                budget.count_file()
                if member.size > limits.max_file_bytes:
                    raise _fail(
                        filename,
                        f"refused: {member.name!r} is larger than {limits.max_file_bytes:,} "
                        "bytes uncompressed",
                    )
                if not wanted(path, suffixes):
                    continue
                extracted = archive.extractfile(member)
                if extracted is None:
                    continue
                with extracted:
                    yield path, budget.read(extracted, member.name)
        except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
            raise _fail(filename, f"the tar archive is damaged ({exc})") from exc


def folder_files(
    folder: Path, suffixes: tuple[str, ...], *, limits: ArchiveLimits = DEFAULT_LIMITS
) -> list[Path]:
    """The regular files under `folder` with `suffixes`, sorted; symbolic links are not followed."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            if path.is_symlink() or not path.is_file() or not wanted(relative, suffixes):
                continue
            found.append(path)
            if len(found) > limits.max_files:
                raise _fail(str(folder), f"refused: more than {limits.max_files:,} files")
    return found


def iter_folder(
    folder: Path,
    suffixes: tuple[str, ...],
    *,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> Iterator[tuple[str, bytes]]:
    """Yield (path relative to the folder, content) of its files with `suffixes`."""
    budget = _Budget(limits, str(folder))
    for path in folder_files(folder, suffixes, limits=limits):
        with path.open("rb") as stream:
            yield path.relative_to(folder).as_posix(), budget.read(stream, path.name)
