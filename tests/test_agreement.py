"""Agreement statistics against values computed by hand (the working is in each docstring)."""

import pytest

from annotation.agreement import (
    Rating,
    agreement_report,
    cohen_pairs,
    fleiss,
    krippendorff_alpha,
    per_label_alpha,
)


def ratings(table: dict[str, list]) -> list[Rating]:
    """{coder: [category per unit, None where the coder did not rate]}"""
    return [
        Rating(unit=f"u{i}", coder=coder, category=value)
        for coder, values in table.items()
        for i, value in enumerate(values)
        if value is not None
    ]


TWO_CODERS = ratings({"c1": ["a", "a", "b", "b"], "c2": ["a", "b", "b", "b"]})


def test_cohen_kappa_two_coders():
    """po = 3/4; p(a) = 1/2 and 1/4, so pe = 1/2 * 1/4 + 1/2 * 3/4 = 1/2; kappa = 0.25/0.5."""
    [pair] = cohen_pairs(TWO_CODERS)
    assert (pair.a, pair.b, pair.shared_units) == ("c1", "c2", 4)
    assert pair.observed == pytest.approx(0.75)
    assert pair.kappa == pytest.approx(0.5)


def test_fleiss_kappa_two_coders():
    """p(a) = 3/8, p(b) = 5/8: Pe = 34/64; P-bar = (1 + 0 + 1 + 1)/4 = 3/4;
    kappa = (3/4 - 34/64) / (1 - 34/64) = 14/30."""
    kappa, units = fleiss(TWO_CODERS)
    assert units == 4
    assert kappa == pytest.approx(14 / 30)


def test_fleiss_kappa_three_coders():
    """Units (a,a,a), (a,a,b), (b,b,b): p(a) = 5/9, Pe = 41/81; P_i = 1, 1/3, 1 so P-bar = 7/9;
    kappa = (63/81 - 41/81) / (40/81) = 22/40."""
    data = ratings({"x": ["a", "a", "b"], "y": ["a", "a", "b"], "z": ["a", "b", "b"]})
    kappa, units = fleiss(data)
    assert units == 3
    assert kappa == pytest.approx(0.55)


def test_krippendorff_alpha_nominal():
    """Coincidences: o_aa = 2, o_ab = o_ba = 1, o_bb = 4; n_a = 3, n_b = 5, n = 8.
    Do = 2/8; De = 2 * 3 * 5 / (8 * 7) = 30/56; alpha = 1 - (1/4) / (30/56) = 1 - 14/30."""
    assert krippendorff_alpha(TWO_CODERS) == pytest.approx(1 - 14 / 30)


def test_krippendorff_alpha_skips_units_one_coder_rated():
    """A unit with a single rating has no pairable value: adding one changes nothing."""
    extra = [*TWO_CODERS, Rating("u9", "c1", "a")]
    assert krippendorff_alpha(extra) == pytest.approx(krippendorff_alpha(TWO_CODERS))


def test_weighted_kappa_and_ordinal_alpha_credit_near_misses():
    """Quadratic weights (i-j)^2: observed cost 1 (the 2-vs-3 cell); expected cost from the
    marginals [1,1,1] x [1,0,2] / 3 is 8/3 + 1/3 + 2/3 + 4/3 = 5; kappa = 1 - 1/5."""
    data = ratings({"p": [1, 2, 3], "q": [1, 3, 3]})
    [pair] = cohen_pairs(data, level="ordinal")
    assert pair.kappa == pytest.approx(0.8)
    near = ratings({"p": [1, 2, 4, 5, 3], "q": [1, 3, 4, 4, 3]})
    far = ratings({"p": [1, 2, 4, 5, 3], "q": [5, 2, 1, 5, 3]})
    assert krippendorff_alpha(near, "ordinal") > krippendorff_alpha(near, "nominal")
    assert krippendorff_alpha(near, "ordinal") > krippendorff_alpha(far, "ordinal")


def test_perfect_agreement_is_one_and_a_single_category_is_undefined():
    same = ratings({"c1": ["a", "b", "a"], "c2": ["a", "b", "a"]})
    report = agreement_report(same)
    assert report.alpha == pytest.approx(1.0)
    assert report.fleiss_kappa == pytest.approx(1.0)
    assert report.pairs[0].kappa == pytest.approx(1.0)
    constant = ratings({"c1": ["a", "a"], "c2": ["a", "a"]})
    report = agreement_report(constant)
    assert report.observed == 1.0
    assert report.alpha is None and report.fleiss_kappa is None and report.pairs[0].kappa is None


def test_per_label_alpha_finds_the_label_people_confuse():
    """People agree on "sports" every time and split on "politics" vs "economy"."""
    data = ratings(
        {
            "c1": ["sports", "sports", "politics", "economy", "politics", "sports"],
            "c2": ["sports", "sports", "economy", "politics", "politics", "sports"],
        }
    )
    per_label = per_label_alpha(data)
    assert per_label["sports"] == pytest.approx(1.0)
    assert per_label["economy"] < 0.5 and per_label["politics"] < 0.5


def test_fleiss_uses_units_with_the_most_common_number_of_coders():
    data = ratings(
        {"x": ["a", "a", "b", "b"], "y": ["a", "b", "b", None], "z": [None, None, None, "b"]}
    )
    assert fleiss(data)[1] == 4  # every unit has two coders here
    three = ratings({"x": ["a", "b", "a"], "y": ["a", "b", "b"], "z": ["a", "b", None]})
    assert fleiss(three)[1] == 2  # two units with three coders outnumber one with two
