"""Every message of the interface has a Chinese translation: the messages are extracted from
the code and templates as `make translations-update` does, so a new string without its
translation (or one left fuzzy by a merge) fails here, not in front of a Chinese-speaking user."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%\(\w+\)\.\df")


def test_every_message_has_a_chinese_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "-o", str(pot), "."], cwd=ROOT, check=True)
    with pot.open("rb") as fh:
        wanted = [m for m in read_po(fh) if m.id]
    with (ROOT / "portal/translations/zh/LC_MESSAGES/messages.po").open("rb") as fh:
        zh = read_po(fh)
    missing, fuzzy, broken = [], [], []
    for msg in wanted:
        have = zh.get(msg.id)
        strings = () if have is None else (have.string,) if isinstance(have.string, str) else have.string
        if have is None or not strings or not all(strings):
            missing.append(msg.id)
        elif have.fuzzy:
            fuzzy.append(msg.id)
        else:
            source = msg.id if isinstance(msg.id, str) else msg.id[-1]
            if any(set(PLACEHOLDER.findall(source)) != set(PLACEHOLDER.findall(s)) for s in strings):
                broken.append(msg.id)
    assert not missing, f"untranslated (run make translations-update, then translate): {missing[:20]}"
    assert not fuzzy, f"fuzzy translations to check: {fuzzy[:20]}"
    assert not broken, f"placeholders differ from the English: {broken[:20]}"
