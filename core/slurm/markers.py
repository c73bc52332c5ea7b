"""Per-call random markers that delimit Slurm's text output.

Job names may hold ``|``, brackets, quotes, ``$( )``, CJK text, escape sequences and even
newlines, and sbatch accepts every one of them. A fixed delimiter is therefore never safe:
each call puts a fresh random marker between fields and after each record, and the parser
splits on exactly that marker. A name cannot contain a marker it could not have known.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

# Only letters and digits plus "#": squeue/sinfo treat "%" as a field start, sinfo -O
# splits on "," and ":", and sacct's --delimiter is used verbatim. None of these appear.
_PREFIX = "#S"


@dataclass(frozen=True, slots=True)
class Marker:
    """A field separator and a record terminator that no remote text contains."""

    token: str

    @classmethod
    def new(cls) -> Marker:
        """A fresh marker with 64 random bits."""
        return cls(secrets.token_hex(8))

    @property
    def field(self) -> str:
        """Put between two fields of one record."""
        return f"{_PREFIX}{self.token}F#"

    @property
    def record(self) -> str:
        """Put after the last field of every record."""
        return f"{_PREFIX}{self.token}R#"

    def format(self, specs: Sequence[str]) -> str:
        """A squeue/sinfo ``-o`` string: the specs joined by the field marker, record-terminated."""
        return self.field.join(specs) + self.record

    def records(self, text: str, width: int) -> list[list[str]]:
        """Split output made with :meth:`format` into records of exactly ``width`` fields.

        Whatever surrounds a record (the newline Slurm prints after it, blank lines) is
        dropped. A chunk without the expected number of fields is not a record of ours
        (a warning Slurm printed, a truncated tail) and is skipped.
        """
        out: list[list[str]] = []
        for chunk in text.split(self.record):
            fields = chunk.split(self.field)
            if len(fields) != width:
                continue
            # The first field of every format here is an id or a partition/node name,
            # which never holds a newline: what precedes its line is the newline ending
            # the previous record, or noise a login shell printed before the first one.
            fields[0] = fields[0].rsplit("\n", 1)[-1]
            out.append(fields)
        return out

    def delimited_records(self, text: str, width: int) -> list[list[str]]:
        """Split ``sacct -p --delimiter=<field>`` output into records of ``width`` fields.

        With ``-p`` sacct prints the delimiter after *every* field, the last one too, and
        then a newline. So the whole output is a flat run of ``field<delimiter>`` items in
        which every record's first item starts with the newline of the record before.
        Counting items, not lines, keeps a name with newlines (even a leading or trailing
        one) inside its record.
        """
        # The last item is what follows the final delimiter: the closing newline (or a
        # truncated record, which is dropped with it).
        items = text.split(self.field)[:-1]
        out: list[list[str]] = []
        for start in range(0, len(items) - width + 1, width):
            record = items[start : start + width]
            # The first field (JobID) never holds a newline; before it comes the newline
            # ending the previous record, or noise printed before the first one.
            if start and "\n" not in record[0]:
                break  # misaligned: something that is not a record of ours
            record[0] = record[0].rsplit("\n", 1)[-1]
            out.append(record)
        return out
