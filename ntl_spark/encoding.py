"""Categorical columns encoded with levels learned from data.

:class:`CategoricalVocabulary` learns, per column, the levels seen in a
DataFrame (the training split) and turns each column into 0/1 double
columns: one per kept level and ``<column>__other`` for any other value, so a
value never seen in training (a region a utility adds later, a new tariff) is
encoded as "other" instead of as all zeros. A null is missing: all zeros.

The vocabulary is saved with the model (:meth:`~CategoricalVocabulary.to_dict`,
JSON-able) and rebuilt for scoring (:meth:`~CategoricalVocabulary.from_dict`),
so scoring encodes exactly the columns the model was trained on, whatever the
levels in the scoring data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark.errors import DataError

FORMAT = 1  # of to_dict(); from_dict() refuses any other
OTHER = "other"  # suffix of the column for unseen and rare values: <column>__other
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def safe_name(text: str) -> str:
    """``text`` with every character outside ``[A-Za-z0-9_]`` replaced by ``_``.

    XGBoost feature names may not contain ``[``, ``]`` or ``<``, and names
    with spaces or accents are awkward in SQL and in reports.
    """
    return _UNSAFE.sub("_", text)


@dataclass(frozen=True)
class ColumnLevels:
    """What the vocabulary keeps of one categorical column.

    Attributes:
        column: the input column.
        levels: kept values, most frequent first (ties by value).
        features: the output column of each level, aligned with ``levels``.
        other: the output column for every value not in ``levels``.
        counts: rows of each level where it was learned (informative; empty when built by hand).
    """

    column: str
    levels: tuple[str, ...]
    features: tuple[str, ...]
    other: str
    counts: tuple[int, ...] = ()

    @property
    def outputs(self) -> list[str]:
        """Output columns in order: the levels', then ``other``."""
        return [*self.features, self.other]


def _names(column: str, levels: Sequence[str], taken: set[str]) -> tuple[tuple[str, ...], str]:
    """Output names for ``column``'s levels and its ``other`` column, unique among themselves and ``taken``.

    A level's name is ``<column>_<value>`` made safe (:func:`safe_name`); the
    ``other`` column is ``<column>__other`` and is named first, so no level can
    take it. Two values that make the same name ("A-B", "A B") get ``_2``,
    ``_3`` ... in level order (deterministic for a given vocabulary).
    """
    prefix = safe_name(column)

    def claim(base: str) -> str:
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        return name

    other = claim(f"{prefix}__{OTHER}")
    return tuple(claim(f"{prefix}_{safe_name(v)}") for v in levels), other


class CategoricalVocabulary:
    """Levels of categorical columns learned from data, and their 0/1 encoding.

    Build it with :meth:`fit` (from data), :meth:`from_levels` (given levels)
    or :meth:`from_dict` (saved with a model).

    Example:
        >>> vocab = CategoricalVocabulary.fit(train, ["region", "tariff"], max_levels=50, min_count=5)
        >>> encoded = vocab.transform(test)     # + region_NORTE, ..., region__other, tariff_...
        >>> vocab.feature_columns               # the added columns, in order
    """

    def __init__(self, columns: Sequence[ColumnLevels]) -> None:
        names = [c.column for c in columns]
        if len(set(names)) != len(names):
            raise ValueError(f"a column is encoded twice: {names}")
        outputs = [o for c in columns for o in c.outputs]
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"output column names collide: {outputs}")
        self._columns = tuple(columns)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_levels(
        cls, levels: Mapping[str, Sequence[str]], counts: Mapping[str, Sequence[int]] | None = None
    ) -> CategoricalVocabulary:
        """A vocabulary keeping the given levels of each column (in the given order).

        Args:
            levels: column -> its kept values, in output order.
            counts: column -> rows of each value (kept for the record), aligned with ``levels``.
        """
        taken: set[str] = set()
        out = []
        for column, values in levels.items():
            values = [str(v) for v in values]
            if len(set(values)) != len(values):
                raise ValueError(f"column '{column}': a level is listed twice in {values}")
            features, other = _names(column, values, taken)
            n = tuple(int(c) for c in (counts or {}).get(column, ()))
            out.append(ColumnLevels(column, tuple(values), features, other, n))
        return cls(out)

    @classmethod
    def fit(cls, df: DataFrame, columns: Sequence[str], max_levels: int, min_count: int) -> CategoricalVocabulary:
        """Learn the levels of ``columns`` from ``df`` (one Spark job for all columns).

        Per column, values are ordered by their number of rows (most first, ties
        by value); the first ``max_levels`` with at least ``min_count`` rows are
        kept, and every other value will go to ``<column>__other``. Nulls are
        not levels. Values are compared as strings.

        Args:
            df: the rows to learn from: the training split only, so held-out
                and scoring rows are encoded as the model saw its training rows.
            columns: categorical columns of ``df``.
            max_levels: most levels kept per column (>= 1).
            min_count: fewest rows a value needs to be a level (>= 1).

        Raises:
            ValueError: ``max_levels`` or ``min_count`` below 1, or a column listed twice.
            DataError: a column is missing from ``df`` or is not of an atomic type.
        """
        if max_levels < 1 or min_count < 1:
            raise ValueError(f"max_levels ({max_levels}) and min_count ({min_count}) must be >= 1")
        if len(set(columns)) != len(columns):
            raise ValueError(f"a column is listed twice: {list(columns)}")
        _check_columns(df, columns, "to learn categories from")
        if not columns:
            return cls([])
        pairs = F.explode(F.array(*[
            F.struct(F.lit(c).alias("column"), F.col(c).cast("string").alias("value")) for c in columns
        ])).alias("pair")
        rows = (
            df.select(pairs).select("pair.column", "pair.value").where(F.col("value").isNotNull())
            .groupBy("column", "value").count().collect()
        )
        found: dict[str, list[tuple[str, int]]] = {c: [] for c in columns}
        for r in rows:
            found[r["column"]].append((r["value"], int(r["count"])))
        levels: dict[str, list[str]] = {}
        counts: dict[str, list[int]] = {}
        for c in columns:
            ranked = sorted(found[c], key=lambda vc: (-vc[1], vc[0]))
            kept = [(v, n) for v, n in ranked if n >= min_count][:max_levels]
            levels[c] = [v for v, _ in kept]
            counts[c] = [n for _, n in kept]
        return cls.from_levels(levels, counts)

    # ---------------------------------------------------------------- use
    @property
    def columns(self) -> list[str]:
        """The input columns, in order."""
        return [c.column for c in self._columns]

    @property
    def feature_columns(self) -> list[str]:
        """The columns :meth:`transform` adds, in order (per column: its levels', then ``other``)."""
        return [o for c in self._columns for o in c.outputs]

    def levels(self, column: str) -> ColumnLevels:
        """What the vocabulary keeps of ``column``.

        Raises:
            KeyError: ``column`` is not encoded.
        """
        for c in self._columns:
            if c.column == column:
                return c
        raise KeyError(f"column '{column}' is not in the vocabulary (has {self.columns})")

    def _encoded(self) -> list[Column]:
        """The 0/1 double columns of :attr:`feature_columns`, as expressions on the input columns."""
        out: list[Column] = []
        for c in self._columns:
            value = F.col(c.column).cast("string")
            for level, name in zip(c.levels, c.features, strict=True):
                out.append(F.when(value == F.lit(level), 1.0).otherwise(0.0).alias(name))
            seen = value.isin(list(c.levels)) if c.levels else F.lit(False)
            # a null is missing, not "other": every column of it stays 0
            out.append(F.when(value.isNull() | seen, 0.0).otherwise(1.0).alias(c.other))
        return out

    def transform(self, df: DataFrame) -> DataFrame:
        """``df`` with :attr:`feature_columns` added (one ``select``; the input columns are kept).

        Raises:
            DataError: an encoded column is missing from ``df``, or ``df``
                already has a column of an output's name.
        """
        _check_columns(df, self.columns, "to encode")
        clash = sorted(set(self.feature_columns) & set(df.columns))
        if clash:
            raise DataError(f"the rows already have column(s) {clash} that the categorical encoding adds: "
                            f"encode rows that carry the raw categorical columns only")
        return df.select("*", *self._encoded())

    # ------------------------------------------------------------ persist
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, read back by :meth:`from_dict`."""
        return {
            "format": FORMAT,
            "columns": [
                {"column": c.column, "levels": list(c.levels), "features": list(c.features), "other": c.other,
                 "counts": list(c.counts)}
                for c in self._columns
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalVocabulary:
        """The vocabulary described by :meth:`to_dict`'s output.

        Output names are taken as saved (not recomputed), so a model keeps
        its input names even if the naming rule changes.

        Raises:
            ValueError: ``data`` is not such a description.
        """
        try:
            if int(data["format"]) != FORMAT:
                raise ValueError(f"format {data['format']!r}, expected {FORMAT}")
            cols = []
            for item in data["columns"]:
                levels = tuple(str(v) for v in item["levels"])
                features = tuple(str(v) for v in item["features"])
                if len(levels) != len(features):
                    raise ValueError(f"column '{item['column']}': {len(levels)} levels for {len(features)} features")
                cols.append(ColumnLevels(str(item["column"]), levels, features, str(item["other"]),
                                         tuple(int(n) for n in item.get("counts") or ())))
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a categorical vocabulary: {e!r} in {dict(data)!r:.300}") from e
        return cls(cols)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CategoricalVocabulary) and self._columns == other._columns

    def __hash__(self) -> int:
        return hash(self._columns)

    def __repr__(self) -> str:
        return "CategoricalVocabulary(" + ", ".join(f"{c.column}: {len(c.levels)} levels" for c in self._columns) + ")"


def _check_columns(df: DataFrame, columns: Sequence[str], purpose: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"column(s) {missing} {purpose} are not in the rows (have {sorted(df.columns)})")
    bad = [f"{c}: {df.schema[c].dataType.simpleString()}" for c in columns
           if isinstance(df.schema[c].dataType, (T.ArrayType, T.MapType, T.StructType))]
    if bad:
        raise DataError(f"categorical column(s) must be of an atomic type (string, int ...): {bad}")
