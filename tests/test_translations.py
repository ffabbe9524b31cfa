"""Swedish is the default language: every string the service shows must have a translation."""

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "dsr/translations/sv/LC_MESSAGES/messages.po"


def test_every_message_has_a_swedish_translation():
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    missing = [
        m.id
        for m in catalog
        if m.id and (not all(m.string) if isinstance(m.id, tuple) else not m.string)
    ]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert missing == [], f"untranslated: {missing}"
    assert fuzzy == [], f"fuzzy (unchecked) translations: {fuzzy}"


def test_the_catalogue_covers_every_string_in_code_and_templates(tmp_path):
    """Re-extract the strings; any that the .po file lacks were added without translation."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            "--no-location",
            "--ignore-dirs",
            ".* __pycache__",
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    with pot.open("rb") as fh:
        wanted = {m.id for m in read_po(fh) if m.id}
    with PO.open("rb") as fh:
        have = {m.id for m in read_po(fh) if m.id}
    assert wanted - have == set(), "run `make messages` and translate the new strings"
