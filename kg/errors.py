"""Errors of the knowledge-graph layer. Each says what was wrong, where (file, line, column) and what to do."""

from __future__ import annotations


class KGError(Exception):
    """Base class of every error raised by `kgreason.kg`; `code` is a stable short identifier."""

    code = "KG000"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        return f"{text}\n  What to do: {self.hint}" if self.hint else text


class ParseError(KGError):
    """A file could not be read as the format it was declared or detected to be."""

    code = "KG101"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path, self.line, self.column = path, line, column
        where = path or "<input>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}", hint=hint or "fix the input at that position and run again")


class UnknownFormatError(KGError):
    """No reader is registered for the requested format name or file extension."""

    code = "KG102"


class RemoteAccessError(KGError):
    """Parsing tried to reach the network while remote access was not allowed."""

    code = "KG103"


class StoreError(KGError):
    """A store directory is missing, locked, from another format version, or damaged."""

    code = "KG201"


class TermError(KGError):
    """A string is not a valid entity, relation or literal key (see `kgreason.kg.terms`)."""

    code = "KG301"


class TaskInputError(KGError):
    """A task's input file or settings cannot be used (unknown task, missing store or file)."""

    code = "DATA001"
