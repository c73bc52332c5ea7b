"""Job names that break naive parsers; sbatch accepts every one of them."""

from __future__ import annotations

NASTY_NAMES: tuple[str, ...] = (
    "pipe|name|x",
    "brackets[1-3]_%a",
    'quote"double',
    "quote'single",
    "$(touch /tmp/suan-pwned)`id`",
    "名字-作业 测试",
    "\x1b[31mred\x1b[0m\x07",
    "line1\nline2",
    "a UserId=evil(1) GroupId=x Account=y",
    "tab\there  two  spaces",
    "back\\slash;semi&amp",
    "#S0123456789abcdefF#",
)


def accounting_name(name: str) -> str:
    """How slurmdbd stores a name: it turns ``"`` into a backtick."""
    return name.replace('"', "`")
