"""docs/configuration.md documents every key of the default config, with its default."""
import re

from core.config import _ADDED_KEYS, get_default_config
from helpers import REPO


def _leaves(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _shown(value) -> str:
    """A default as the page writes it: YAML's ~, true/false, '' for the empty string."""
    if value is None:
        return "~"
    if isinstance(value, bool):
        return str(value).lower()
    return "''" if value == "" else str(value)


def test_every_default_key_has_a_row_with_its_default():
    text = (REPO / "docs" / "configuration.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([A-Z0-9_.]+)`(?: \*\(added\)\*)? \| ([^|]+) \|", text, re.M)}
    defaults = dict(_leaves(get_default_config().to_dict()))
    missing = sorted(set(defaults) - set(rows))
    assert not missing, f"keys without a row in docs/configuration.md: {missing}"
    unknown = sorted(set(rows) - set(defaults))
    assert not unknown, f"rows for keys the config does not have: {unknown}"
    for key, value in defaults.items():
        assert rows[key].strip() == f"`{_shown(value)}`", (key, rows[key], value)
    added = {m.group(1) for m in re.finditer(r"^\| `([A-Z0-9_.]+)` \*\(added\)\* \|", text, re.M)}
    assert added == set(_ADDED_KEYS), sorted(added ^ set(_ADDED_KEYS))
