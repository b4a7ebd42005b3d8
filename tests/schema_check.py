"""Validation of what the pipeline writes against the published JSON Schemas (`schemas/`).

`check_tree` finds every artifact under a folder by its file name and folder; `conftest.py` runs it
over all the test session's temporary folders at the end of the run, so every artifact the
pipeline wrote during the tests is checked. Records read from `cdr.rated`, `cdr.rejected` and
`subscriber.alerts` are checked with `check_record` where the tests read them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from telecom_billing.contracts import schemas

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"

# Schema name -> the version the code writes (its major picks the schema file).
VERSIONS = {
    "rated-cdr": schemas.RATED_CDR,
    "rejected-cdr": schemas.REJECTED_CDR,
    "rate-summary": schemas.RATE_SUMMARY,
    "invoice": schemas.INVOICE,
    "reconciliation": schemas.RECONCILIATION,
    "manifest": schemas.MANIFEST,
    "rerate-manifest": schemas.RERATE_MANIFEST,
    "rerate-change": schemas.RERATE_CHANGE,
    "adjustment": schemas.ADJUSTMENT,
    "alert": schemas.ALERT,
}
JSONL = {"invoices.jsonl": "invoice", "changes.jsonl": "rerate-change", "adjustments.jsonl": "adjustment",
         "rated.jsonl": "rated-cdr", "rejected.jsonl": "rejected-cdr"}


@cache
def validator(name: str) -> Draft202012Validator:
    major = VERSIONS[name].split(".")[0]
    schema = json.loads((SCHEMAS / name / f"v{major}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(name: str, document: Any) -> list[str]:
    """What is wrong with `document` as a `name` artifact: `path: message`, one per problem."""
    found = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
             for e in validator(name).iter_errors(document)]
    if isinstance(document, dict) and document.get(schemas.FIELD) != VERSIONS[name]:
        found.append(f"{schemas.FIELD} is {document.get(schemas.FIELD)!r}, the code writes {VERSIONS[name]!r}")
    return found


def check_record(name: str, value: bytes | str) -> None:
    """A record's value (JSON) is a valid `name` artifact; AssertionError otherwise."""
    found = problems(name, json.loads(value))
    assert not found, f"{name}: {found[:3]}"


def artifact_kind(path: Path) -> str | None:
    """Which schema a file the pipeline wrote follows; None: not an artifact, or not the pipeline's.

    Only outputs count, recognised by their folder: a published period or rerating folder
    (`_SUCCESS` beside `invoices.jsonl` or `changes.jsonl`), the folder of `telecom rate` (rated and
    rejected files beside its `reconciliation.json`), and any `reconciliation.json`. What tests
    write by hand as input (rated records with only the fields billing reads, a stand-in final
    folder with only a status) is not pipeline output and is not checked.
    """
    folder, name = path.parent, path.name
    if name == "reconciliation.json":
        return "rate-summary" if (folder / "rated.jsonl").exists() else "reconciliation"
    if name in ("rated.jsonl", "rejected.jsonl"):
        return JSONL[name] if (folder / "reconciliation.json").exists() else None
    published = (folder / "_SUCCESS").exists() and any((folder / f).exists() for f in ("invoices.jsonl",
                                                                                        "changes.jsonl"))
    if not published:
        return None
    if name == "manifest.json":
        return "rerate-manifest" if folder.name.startswith("catalog=") else "manifest"
    return JSONL.get(name)


def documents(path: Path) -> Iterator[tuple[str, Any]]:
    """(`file:line` or `file`, parsed document) of an artifact file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        # Split on \n alone: str.splitlines() also splits on \u2028, \x85 and others, which JSON strings
        # may hold as they are (the fuzz test's records do).
        yield from ((f"{path}:{n}", json.loads(line)) for n, line in enumerate(text.split("\n"), 1) if line)
    else:
        yield str(path), json.loads(text)


def check_tree(root: Path) -> tuple[int, list[str]]:
    """(artifact files checked, `where: problem` lines) for every artifact under `root`. Hidden
    folders (a period being written, a staging copy) are not output yet and are skipped."""
    files, found = 0, []
    for path in sorted(root.rglob("*")):
        name = artifact_kind(path) if path.is_file() else None
        if name is None or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        files += 1
        for where, document in documents(path):
            found += [f"{where}: {problem}" for problem in problems(name, document)[:3]]
    return files, found
