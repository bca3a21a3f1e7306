"""Every app has its own Chinese catalog; Django merges them into one, so a msgid translated two
ways in two apps would show the first app's wording on the other's pages. Keep them consistent."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

MEDOA = Path(__file__).resolve().parents[2]


def _first(value: object) -> str:
    return value[0] if isinstance(value, (tuple, list)) else str(value)


def test_a_msgid_has_one_chinese_wording_across_all_catalogs() -> None:
    # given every zh_Hans catalog of the project
    catalogs = sorted(MEDOA.rglob("locale/zh_Hans/LC_MESSAGES/django.po"))
    assert len(catalogs) >= 5
    wordings: dict[tuple[str, str], dict[str, str]] = {}
    for path in catalogs:
        with path.open("rb") as fh:
            for message in read_po(fh):
                if not message.id:
                    continue
                key = (message.context or "", _first(message.id))
                wordings.setdefault(key, {})[str(path.relative_to(MEDOA))] = _first(message.string)

    # then no msgid is translated differently in two catalogs
    conflicts = {key: where for key, where in wordings.items() if len(set(where.values())) > 1}
    assert conflicts == {}
