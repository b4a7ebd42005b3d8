"""`infra.atomic`: a reader finds the old content or the new one; a failed write leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from telecom_billing.infra.atomic import replacing, write_json


def test_a_failed_write_leaves_the_old_file_and_no_staging(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    write_json(target, {"n": 1})
    with pytest.raises(RuntimeError), replacing(target) as staging:
        staging.write_text("half")
        raise RuntimeError("the writer died")
    assert target.read_text() == '{\n  "n": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_folder_replaces_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "jars"
    target.mkdir()
    (target / "old.jar").write_text("old")
    with replacing(target) as staging:
        staging.mkdir()
        (staging / "new.jar").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.jar"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jars"]


def test_json_is_utf8_and_indented(tmp_path: Path) -> None:
    write_json(tmp_path / "deep" / "x.json", {"name": "Fès"})
    assert (tmp_path / "deep" / "x.json").read_bytes() == '{\n  "name": "Fès"\n}\n'.encode()
