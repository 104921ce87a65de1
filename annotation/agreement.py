"""Inter-annotator agreement: Cohen's kappa per pair, Fleiss' kappa, Krippendorff's alpha.

The statistics come from maintained libraries (scikit-learn, statsmodels, krippendorff); this
module only shapes the ratings for them and decides where a statistic is undefined (None):
too few shared units, or a single category in use, where every formula divides by zero.
No Django here.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import numpy as np

# scikit-learn, statsmodels and krippendorff are imported where used: every web process imports
# this module, and only review pages need them (they add seconds to a process start).
MIN_SHARED_UNITS = 2


@dataclass(frozen=True)
class Rating:
    unit: str  # what was rated: a record, or a (record, token) / (record, label) part of one
    coder: str
    category: Any
    group: str = ""  # the label a binary unit belongs to (multi-label), for per-label figures


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    shared_units: int
    kappa: float | None
    observed: float


@dataclass(frozen=True)
class AgreementReport:
    level: str
    units: int  # units rated by two coders or more: the only ones agreement can use
    coders: int
    observed: float | None  # share of agreeing coder pairs over those units
    fleiss_kappa: float | None
    fleiss_units: int
    alpha: float | None
    pairs: list[PairAgreement]
    per_label: dict[str, float | None]


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _by_unit(ratings: list[Rating]) -> dict[str, dict[str, Any]]:
    units: dict[str, dict[str, Any]] = defaultdict(dict)
    for rating in ratings:
        units[rating.unit][rating.coder] = rating.category
    return units


def krippendorff_alpha(ratings: list[Rating], level: str = "nominal") -> float | None:
    units = {unit: coders for unit, coders in _by_unit(ratings).items() if len(coders) >= 2}
    categories = sorted({c for coders in units.values() for c in coders.values()}, key=str)
    if len(categories) < 2:
        return None
    coders = sorted({coder for per_unit in units.values() for coder in per_unit})
    unit_keys = sorted(units)
    # Nominal categories become codes; ordinal ones must already be numbers in scale order.
    code = (
        {category: float(category) for category in categories}
        if level == "ordinal"
        else {category: float(i) for i, category in enumerate(categories)}
    )
    data = np.full((len(coders), len(unit_keys)), np.nan)
    coder_index = {coder: i for i, coder in enumerate(coders)}
    for j, unit in enumerate(unit_keys):
        for coder, category in units[unit].items():
            data[coder_index[coder], j] = code[category]
    value_domain = sorted(set(code.values()))
    import krippendorff

    measurement: Literal["nominal", "ordinal"] = "ordinal" if level == "ordinal" else "nominal"
    return _finite(
        krippendorff.alpha(
            reliability_data=data, level_of_measurement=measurement, value_domain=value_domain
        )
    )


def fleiss(ratings: list[Rating]) -> tuple[float | None, int]:
    """Fleiss' kappa over the units rated by the most common number of coders (it needs equal
    counts per unit); returns (kappa, units used)."""
    units = [coders for coders in _by_unit(ratings).values() if len(coders) >= 2]
    if not units:
        return None, 0
    n = Counter(len(coders) for coders in units).most_common(1)[0][0]
    same = [coders for coders in units if len(coders) == n]
    categories = sorted({c for coders in same for c in coders.values()}, key=str)
    if len(categories) < 2:
        return None, len(same)
    from statsmodels.stats.inter_rater import fleiss_kappa

    index = {category: i for i, category in enumerate(categories)}
    table = np.zeros((len(same), len(categories)))
    for row, coders in enumerate(same):
        for category in coders.values():
            table[row, index[category]] += 1
    return _finite(fleiss_kappa(table, method="fleiss")), len(same)


def cohen_pairs(ratings: list[Rating], level: str = "nominal") -> list[PairAgreement]:
    """Cohen's kappa for every pair of coders on the units both rated (quadratic weights for
    ordinal scales)."""
    from sklearn.metrics import cohen_kappa_score

    units = _by_unit(ratings)
    coders = sorted({rating.coder for rating in ratings})
    weights = "quadratic" if level == "ordinal" else None
    result = []
    for a, b in combinations(coders, 2):
        shared = [(c[a], c[b]) for c in units.values() if a in c and b in c]
        if len(shared) < MIN_SHARED_UNITS:
            continue
        left = [str(x) if level != "ordinal" else x for x, _ in shared]
        right = [str(y) if level != "ordinal" else y for _, y in shared]
        observed = sum(x == y for x, y in zip(left, right, strict=True)) / len(shared)
        kappa = None
        if len(set(left) | set(right)) >= 2:
            kappa = _finite(cohen_kappa_score(left, right, weights=weights))
        result.append(PairAgreement(a, b, len(shared), kappa, observed))
    return result


def observed_agreement(ratings: list[Rating]) -> float | None:
    agreeing = total = 0
    for coders in _by_unit(ratings).values():
        values = list(coders.values())
        for x, y in combinations(values, 2):
            total += 1
            agreeing += x == y
    return agreeing / total if total else None


def agreement_report(ratings: list[Rating], level: str = "nominal") -> AgreementReport:
    multi = [coders for coders in _by_unit(ratings).values() if len(coders) >= 2]
    fleiss_kappa, fleiss_units = fleiss(ratings)
    return AgreementReport(
        level=level,
        units=len(multi),
        coders=len({rating.coder for rating in ratings}),
        observed=observed_agreement(ratings),
        fleiss_kappa=fleiss_kappa,
        fleiss_units=fleiss_units,
        alpha=krippendorff_alpha(ratings, level),
        pairs=cohen_pairs(ratings, level),
        per_label=per_label_alpha(ratings, level),
    )


def per_label_alpha(ratings: list[Rating], level: str = "nominal") -> dict[str, float | None]:
    """How reliably each label is used: alpha of its yes/no units (multi-label) or of
    "this label or not" (single-label, one against the rest)."""
    if level != "nominal":
        return {}
    groups = {rating.group for rating in ratings}
    if groups != {""}:
        return {
            group: krippendorff_alpha([r for r in ratings if r.group == group])
            for group in sorted(groups)
        }
    categories = sorted({rating.category for rating in ratings}, key=str)
    return {
        str(category): krippendorff_alpha(
            [Rating(r.unit, r.coder, r.category == category) for r in ratings]
        )
        for category in categories
    }
