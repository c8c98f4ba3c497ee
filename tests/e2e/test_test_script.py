"""scripts/test.sh names what it skipped and how to get it (issue 22, item 6):
a module skipped whole for want of tesseract or chromium must not pass in silence."""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.paths import REPO


def test_skips_are_listed_with_their_reason_and_a_hint(tmp_path: Path) -> None:
    # Outside the repository, so none of the suite's own conftest or settings apply.
    (tmp_path / "test_one_skips.py").write_text(
        "import pytest\n\n\n"
        "def test_runs():\n    assert True\n\n\n"
        '@pytest.mark.skip(reason="frobnicator is not installed")\n'
        "def test_needs_a_program():\n    pass\n\n\n"
        '@pytest.mark.skip(reason="tesseract is not installed")\n'
        "def test_needs_tesseract():\n    pass\n"
    )
    result = subprocess.run(
        ["bash", "scripts/test.sh", str(tmp_path / "test_one_skips.py"), "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIPPED [1]" in result.stdout and "frobnicator is not installed" in result.stdout
    assert "did not run here" in result.stderr
    # The hint names what the skipped tests need, and only that.
    assert "sudo apt-get install tesseract-ocr tesseract-ocr-eng" in result.stderr
    assert "chromium" not in result.stderr and "torchvision" not in result.stderr
