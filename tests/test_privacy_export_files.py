"""The export's file names (issue 15, item 10): a client's 200-character Chinese file name is cut to
what a file system takes, in bytes, keeping the extension; a failed folder export leaves nothing
half-written behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.privacy.gdpr import Export, safe_name, write_export


def export_with(name: str) -> Export:
    path = f"attachments/17-{safe_name(name, 'attachment')}"
    return Export(data={"contact": {"id": 1}}, files={path: b"%PDF-1.4 test"})


def test_a_long_cjk_name_is_written_whole_with_its_extension(tmp_path: Path) -> None:
    export = export_with("文" * 200 + ".pdf")
    write_export(export, tmp_path / "out")
    (written,) = (tmp_path / "out" / "attachments").iterdir()
    assert written.name.endswith(".pdf") and len(written.name.encode()) <= 255
    assert written.name.startswith("17-文文") and written.read_bytes() == b"%PDF-1.4 test"


def test_a_failed_folder_export_leaves_no_partial_folder(tmp_path: Path) -> None:
    export = export_with("a.pdf")
    export.files["attachments/" + "x" * 300] = b"too long a name for any file system"
    with pytest.raises(OSError):
        write_export(export, tmp_path / "out")
    assert list(tmp_path.iterdir()) == [], "neither the export nor its staging folder is left"
