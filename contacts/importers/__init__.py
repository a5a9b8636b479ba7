"""Parsers that turn an uploaded file into a `ParsedFile` (contacts.records); no database here.

`parse_file` is the one entry point: the CLI's import command and the admin upload page both call
it, then hand the result to the import engine (contacts/importing.py), which compares it with the
directory and applies it.

| format   | files                                                     | module       |
|----------|-----------------------------------------------------------|--------------|
| `ep_xml` | the EP's full list of MEPs, `.xml`                        | `ep_xml`     |
| `ep_api` | EP Open Data API v2 per-MEP JSON: `.json`, `.zip`, `.tar.gz`/`.tgz`, a folder | `ep_api` |
| `csv`    | `.csv`, `.txt`, `.tsv`: any columns, see `detect_mapping` | `tabular`    |
| `xlsx`   | `.xlsx` workbooks                                         | `tabular`    |

The format is taken from `format` when given, else from the file name, else from the first bytes.
A `.zip` is an XLSX workbook when it holds ``xl/workbook.xml``, else an archive of API files.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from contacts.importers import archives
from contacts.importers.common import Progress
from contacts.importers.ep_api import parse_ep_api
from contacts.importers.ep_xml import parse_ep_xml, split_ep_name
from contacts.importers.tabular import FIELD_NAMES, detect_mapping, parse_csv, parse_xlsx
from contacts.records import ImportFileError, ParsedFile

__all__ = [
    "FIELD_NAMES",
    "SUPPORTED_FORMATS",
    "Progress",
    "detect_format",
    "detect_mapping",
    "parse_csv",
    "parse_ep_api",
    "parse_ep_xml",
    "parse_file",
    "parse_xlsx",
    "split_ep_name",
]

# Format -> the file name endings it is recognised by (the upload form's `accept` list).
SUPPORTED_FORMATS: dict[str, tuple[str, ...]] = {
    "ep_xml": (".xml",),
    "ep_api": (".json", ".jsonld", ".zip", ".tar.gz", ".tgz", ".tar"),
    "csv": (".csv", ".txt", ".tsv", ".tab"),
    "xlsx": (".xlsx", ".xlsm"),
}

# An upload is read whole into memory (files are small: the EP's largest is 1.4 MB compressed);
# the web layer limits the upload size, and archives are checked member by member.
_HEAD = 512


def _is_workbook(head_source: Path | bytes) -> bool:
    try:
        stream = (
            head_source.open("rb") if isinstance(head_source, Path) else io.BytesIO(head_source)
        )
        with stream, zipfile.ZipFile(stream) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def detect_format(source: Path | bytes, filename: str | None = None) -> str:
    """Which parser reads `source`: from the file name's ending, else from its first bytes."""
    if isinstance(source, Path) and source.is_dir():
        return "ep_api"
    name = (filename or (source.name if isinstance(source, Path) else "")).lower()
    if name.endswith(".zip"):
        return "xlsx" if _is_workbook(source) else "ep_api"
    for format_name, endings in SUPPORTED_FORMATS.items():
        if name.endswith(endings):
            return format_name
    head = _read_head(source)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(archives.ZIP_MAGIC):
        return "xlsx" if _is_workbook(source) else "ep_api"
    if head.startswith(archives.GZIP_MAGIC) or head[257:262] == b"ustar":
        return "ep_api"
    if stripped.startswith(b"<"):
        return "ep_xml"
    if stripped.startswith((b"{", b"[")):
        return "ep_api"
    return "csv"


def _read_head(source: Path | bytes) -> bytes:
    if isinstance(source, bytes):
        return source[:_HEAD]
    try:
        with source.open("rb") as stream:
            return stream.read(_HEAD)
    except OSError as exc:
        raise ImportFileError(f"{source}: cannot be read ({exc.strerror})") from exc


def _read_all(source: Path | bytes) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return source.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{source}: cannot be read ({exc.strerror})") from exc


def parse_file(
    path_or_bytes: str | Path | bytes,
    *,
    filename: str | None = None,
    format: str | None = None,  # the name the brief and callers use, shadowing the builtin
    mapping: Mapping[str, str | None] | None = None,
    today: date | None = None,
    progress: Progress | None = None,
) -> ParsedFile:
    """Parse a file of contacts in any supported format into a `ParsedFile`.

    `path_or_bytes` is a path (a file, or a folder of EP API files) or the uploaded bytes;
    `filename` is the name shown in messages (and used to recognise the format of bytes). `format`
    forces one of SUPPORTED_FORMATS. `mapping` ({header: field}) completes the column detection
    of CSV and XLSX files; `today` is the date EP API mandates and seats are current at (default:
    today, UTC). `progress(done, total)` is called as the parser advances (total may be None).

    Raises ImportFileError when the file as a whole cannot be read; rows it rejects are in
    `ParsedFile.errors`.
    """
    source = Path(path_or_bytes) if isinstance(path_or_bytes, str) else path_or_bytes
    if isinstance(source, Path):
        if not source.exists():
            raise ImportFileError(f"{source}: no such file or folder")
        filename = filename or source.name
    if format is not None and format not in SUPPORTED_FORMATS:
        raise ImportFileError(f"unknown format {format!r}; formats: {', '.join(SUPPORTED_FORMATS)}")
    chosen = format or detect_format(source, filename)
    if chosen == "ep_api":
        return parse_ep_api(source, filename=filename, today=today, progress=progress)
    if isinstance(source, Path) and source.is_dir():
        raise ImportFileError(f"{source}: a folder can only hold EP API files")
    if chosen == "ep_xml":
        return parse_ep_xml(_read_all(source), filename=filename, progress=progress)
    if chosen == "xlsx":
        return parse_xlsx(_read_all(source), filename=filename, mapping=mapping, progress=progress)
    return parse_csv(_read_all(source), filename=filename, mapping=mapping, progress=progress)
