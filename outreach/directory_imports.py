"""Imports from the admin console: the uploaded file is kept until it is applied or dropped.

The flow is upload → dry run (the diff and the row errors, and for spreadsheets the column
mapping, which staff can correct and save) → apply. Applying re-reads the stored file and plans
again; the plan's digest must equal the one staff reviewed, so a directory that changed in
between is never updated blindly: the new diff is shown instead. The CLI calls the same parser and
engine (contacts.importers, contacts.importing).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.importers import SUPPORTED_FORMATS, parse_file
from contacts.importing import ImportPlan, apply_plan, plan_import
from contacts.models import ImportMapping, ImportRun
from contacts.records import ImportFileError, ParsedFile

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# An upload nobody applied or discarded within a week is removed by the next upload.
UPLOAD_MAX_AGE_SECONDS = 7 * 24 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class UploadError(ValueError):
    pass


@dataclass(frozen=True)
class StoredUpload:
    token: str
    path: Path
    filename: str


def _folder(instance: Path) -> Path:
    folder = instance / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_upload(instance: Path, filename: str, data: bytes) -> StoredUpload:
    if not data:
        raise UploadError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    _remove_old_uploads(_folder(instance))
    token = secrets.token_urlsafe(24)
    safe_name = Path(filename or "upload").name[:200] or "upload"
    path = _folder(instance) / f"{token}.data"
    path.write_bytes(data)
    (_folder(instance) / f"{token}.json").write_text(json.dumps({"filename": safe_name}))
    return StoredUpload(token, path, safe_name)


def _remove_old_uploads(folder: Path) -> None:
    cutoff = time.time() - UPLOAD_MAX_AGE_SECONDS
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass  # another request removed it


def load_upload(instance: Path, token: str) -> StoredUpload:
    if not _TOKEN.match(token):
        raise UploadError("unknown upload")
    folder = _folder(instance)
    path, meta = folder / f"{token}.data", folder / f"{token}.json"
    if not path.exists() or not meta.exists():
        raise UploadError(
            "this upload is gone (applied or discarded already): upload the file again"
        )
    return StoredUpload(token, path, json.loads(meta.read_text())["filename"])


def discard_upload(instance: Path, token: str) -> None:
    if _TOKEN.match(token):
        for suffix in (".data", ".json"):
            (_folder(instance) / f"{token}{suffix}").unlink(missing_ok=True)


def saved_mapping(session: Session, name: str) -> dict[str, str | None]:
    mapping = session.scalar(select(ImportMapping).where(ImportMapping.name == name))
    if mapping is None:
        raise UploadError(f"there is no saved mapping {name!r}")
    return dict(mapping.mapping)


def save_mapping(session: Session, name: str, mapping: dict[str, str | None]) -> ImportMapping:
    name = name.strip()
    if not name:
        raise UploadError("a saved mapping needs a name")
    existing = session.scalar(select(ImportMapping).where(ImportMapping.name == name))
    if existing is None:
        existing = ImportMapping(name=name)
        session.add(existing)
    existing.mapping = dict(mapping)
    return existing


def dry_run(
    session: Session,
    upload: StoredUpload,
    *,
    format: str | None = None,
    mapping: dict[str, str | None] | None = None,
) -> tuple[ParsedFile, ImportPlan]:
    """Parse and plan; raises ImportFileError for a file that cannot be read at all."""
    if format is not None and format not in SUPPORTED_FORMATS:
        raise ImportFileError(f"unknown format {format!r}")
    parsed = parse_file(upload.path, filename=upload.filename, format=format, mapping=mapping)
    return parsed, plan_import(session, parsed)


def apply_reviewed(
    session: Session,
    upload: StoredUpload,
    *,
    reviewed_digest: str,
    actor: str,
    format: str | None = None,
    mapping: dict[str, str | None] | None = None,
) -> tuple[ImportRun | None, ImportPlan]:
    """Apply the import if it still does exactly what staff reviewed; else return the new plan
    (and no run) so they can review it again. The caller commits."""
    _parsed, plan = dry_run(session, upload, format=format, mapping=mapping)
    if plan.digest != reviewed_digest:
        return None, plan
    return apply_plan(session, plan, actor=actor), plan
