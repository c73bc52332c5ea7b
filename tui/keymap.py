"""Key bindings by id, so the profile config's ``[keys]`` table can remap any of them.

Every ``Binding`` in the TUI has an ``id`` (``"jobs.cancel"``, ``"app.view.jobs"``...).
The config maps an id to keys (``cancel = "x"`` is written ``"jobs.cancel" = "x"``;
several keys are comma-separated: ``"app.renew" = "ctrl+r,f5"``). Textual's
``App.set_keymap`` applies it; :func:`clean_keymap` checks the table first so a typo
is reported in words instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.binding import Binding, BindingType


def clean_keymap(
    raw: Mapping[str, object], known_ids: Iterable[str]
) -> tuple[dict[str, str], list[str]]:
    """The usable part of a ``[keys]`` table, and words about the entries left out."""
    known = set(known_ids)
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in raw.items():
        if not isinstance(keys, str) or not keys.strip():
            problems.append(f'[keys] {binding_id}: expected keys such as "ctrl+r"')
            continue
        if binding_id not in known:
            problems.append(f"[keys] {binding_id}: no key binding has this id")
            continue
        keymap[binding_id] = ",".join(k.strip() for k in keys.split(",") if k.strip())
    return keymap, problems


def ids_of(bindings: Iterable[BindingType]) -> list[str]:
    """The ids of the ``Binding`` objects in a ``BINDINGS`` list."""
    return [b.id for b in bindings if isinstance(b, Binding) and b.id]
