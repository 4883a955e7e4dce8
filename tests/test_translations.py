"""Every text a person can see has a Swedish translation, and the compiled catalogue is current."""

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "service" / "translations" / "sv" / "LC_MESSAGES"


def catalog(path: Path, reader=read_po):
    with path.open("rb") as handle:
        # Plural messages come as tuples from .po files and lists from .mo files.
        return {_tuple(message.id): _tuple(message.string) for message in reader(handle) if message.id}


def _tuple(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def test_every_message_in_the_code_is_translated_to_swedish(tmp_path):
    template = tmp_path / "messages.pot"
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg",
         "-k", "_l", "-k", "lazy_gettext", "-k", "N_", "-o", str(template), "."],
        cwd=ROOT, check=True,
    )
    wanted = set(catalog(template))
    swedish = catalog(CATALOG / "messages.po")
    assert sorted(map(str, wanted - set(swedish))) == []
    untranslated = [m for m, string in swedish.items() if not string or (isinstance(string, tuple) and "" in string)]
    assert untranslated == []


def test_the_compiled_catalogue_matches_the_translations():
    assert catalog(CATALOG / "messages.mo", read_mo) == catalog(CATALOG / "messages.po")
