"""`Vocabulary`: an append-only, bidirectional map between key strings and dense int ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice


class Vocabulary:
    """Keys in id order; `id(key)` is the position of `key`. Ids never change once given."""

    __slots__ = ("_keys", "_index")

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._keys: list[str] = list(keys)
        self._index: dict[str, int] = dict(zip(self._keys, range(len(self._keys))))
        if len(self._index) != len(self._keys):
            raise ValueError("vocabulary keys must be unique")

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, idx: int) -> str:
        return self._keys[idx]

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self):
        return iter(self._keys)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._keys == other._keys

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} keys)"

    @property
    def keys(self) -> Sequence[str]:
        return self._keys

    def id(self, key: str) -> int:
        """Id of `key`; KeyError with the key when it is unknown."""
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"unknown key {key!r}") from None

    def get(self, key: str, default: int | None = None) -> int | None:
        return self._index.get(key, default)

    def ids(self, keys: Iterable[str]) -> list[int]:
        """Ids of `keys`, adding the unknown ones at the end (one dict call per key)."""
        index, keys_list = self._index, self._keys
        before = len(index)
        ids = [index.setdefault(k, len(index)) for k in keys]
        if len(index) > before:
            keys_list.extend(islice(index, before, None))
        return ids

    def copy(self) -> Vocabulary:
        new = Vocabulary.__new__(Vocabulary)
        new._keys, new._index = list(self._keys), dict(self._index)
        return new
