"""The README documents every setting, every key of the event file and every module."""

import re
import tomllib
from pathlib import Path

from service.eventfile import SCHEMA
from service.settings import default_settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_settings_reference():
    missing = [name for name in default_settings() if f"OSA_{name}" not in README]
    assert missing == []


def test_every_event_file_key_is_in_the_event_file_reference():
    reference = README[README.index("### Event file reference"):README.index("## Importing invitees")]
    documented = set(re.findall(r"`([a-z_]+)`", reference))
    keys = {key for table in SCHEMA.values() for key in table} - {"items"}  # the [[days.items]] table
    assert sorted(keys - documented) == []
    assert "[[days.items]]" in reference


def test_the_bundled_event_uses_only_documented_tables():
    from service import BUNDLED_EVENTS_DIR

    data = tomllib.loads((BUNDLED_EVENTS_DIR / "innovationsmotet-2021.toml").read_text(encoding="utf-8"))
    for table in data:
        assert f"[{table}]" in README or f"[[{table}]]" in README, table


def test_the_layout_names_every_module_and_folder():
    layout = README[README.index("## Layout"):]
    root = Path(__file__).resolve().parent.parent
    wanted = {path.name for path in (root / "service").rglob("*.py")
              if "migrations" not in path.parts and path.name != "__init__.py"}
    wanted |= {path.name + "/" for path in (root / "service").iterdir()
               if path.is_dir() and path.name not in ("__pycache__", "static", "templates")}
    assert sorted(name for name in wanted if name not in layout) == []
