"""The generator keeps the pattern of the Sparkov profiles (numpy level, no engine).

Tolerances: shares and means are compared with 4 standard errors of the
sample (a false alarm about once in 16,000 comparisons) plus a small
absolute floor stated per test.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from fraud_lakehouse.generator.customers import age_at, customer_batch, customer_profile_inputs, segment_of
from fraud_lakehouse.generator.params import GeneratorParams
from fraud_lakehouse.generator.places import load_places
from fraud_lakehouse.generator.spec import FRAUD_NIGHT_SHARE, load_spec
from fraud_lakehouse.generator.transactions import HOME_MERCHANT_DEGREES, MILES_PER_DEGREE, transaction_batches

# Eight whole weeks (Monday..Sunday) in which no time-of-year window applies,
# so day-of-week shares follow the day-of-week weights alone.
WEEKS_START, WEEKS_END = dt.date(2025, 3, 3), dt.date(2025, 4, 27)
SIGMAS = 4.0


def _table(params: GeneratorParams, start: dt.date, end: dt.date, customers: int | None = None) -> pa.Table:
    ids = np.arange(customers or params.customers)
    return pa.Table.from_batches(list(transaction_batches(params, ids, start, end)))


@pytest.fixture(scope="module")
def spec():
    return load_spec()


@pytest.fixture(scope="module")
def weeks() -> dict[str, np.ndarray]:
    params = GeneratorParams(seed=11, customers=6_000)
    table = _table(params, WEEKS_START, WEEKS_END)
    columns = table.to_pydict()
    return {name: np.array(values) for name, values in columns.items()} | {"customers": np.arange(params.customers)}


@pytest.fixture(scope="module")
def year() -> dict[str, np.ndarray]:
    params = GeneratorParams(seed=5, customers=1_500)
    table = _table(params, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    return {name: np.array(values) for name, values in table.to_pydict().items()}


def _share_ok(observed: float, expected: float, n: int, floor: float = 0.0) -> bool:
    standard_error = np.sqrt(max(expected * (1 - expected), 1e-12) / n)
    return abs(observed - expected) <= SIGMAS * standard_error + floor


def test_category_shares_per_segment(weeks, spec):
    checked = 0
    for profile_index, profile in enumerate(spec.profile_names[: spec.segment_count]):
        rows = weeks["category"][(weeks["profile"] == profile)]
        if rows.size < 3_000:
            continue  # rural segments are ~5% of customers; too few rows for a tight check
        for category_index, category in enumerate(spec.categories):
            expected = spec.category_weight[profile_index, category_index]
            observed = float(np.mean(rows == category))
            assert _share_ok(observed, expected, rows.size), (profile, category, observed, expected)
        checked += 1
    assert checked >= 4


def _expected_amount(mean: float, stdev: float, draws: int = 400_000) -> tuple[float, float]:
    """Mean and sd of the spec's amount rule, by an independent numpy simulation."""
    rng = np.random.default_rng(12345)
    amounts = rng.gamma(mean**2 / stdev**2, stdev**2 / mean, draws)
    amounts = np.where(amounts < 1.0, rng.uniform(1.0, 10.0, draws), amounts)
    return float(amounts.mean()), float(amounts.std())


def test_mean_amount_per_category(weeks, spec):
    checked = 0
    for profile_index, profile in enumerate(spec.profile_names[: spec.segment_count]):
        in_profile = weeks["profile"] == profile
        for category_index, category in enumerate(spec.categories):
            amounts = weeks["amt"][in_profile & (weeks["category"] == category)]
            if amounts.size < 400:
                continue
            expected, stdev = _expected_amount(
                spec.amount_mean[profile_index, category_index], spec.amount_stdev[profile_index, category_index]
            )
            tolerance = SIGMAS * stdev / np.sqrt(amounts.size) + 0.01 * expected
            assert abs(amounts.mean() - expected) <= tolerance, (profile, category, amounts.mean(), expected)
            checked += 1
    assert checked >= 40


def test_am_pm_share_per_segment(weeks, spec):
    hours = np.array([int(t[:2]) for t in weeks["trans_time"]])
    for profile_index, profile in enumerate(spec.profile_names[: spec.segment_count]):
        in_profile = (weeks["profile"] == profile) & (weeks["is_fraud"] == 0)
        if in_profile.sum() < 3_000:
            continue
        observed = float(np.mean(hours[in_profile] < 12))
        assert _share_ok(observed, spec.am_share[profile_index], int(in_profile.sum())), (profile, observed)


def test_day_of_week_shares_per_segment(weeks, spec):
    weekday = np.array([dt.date.fromisoformat(str(d)).weekday() for d in weeks["trans_date"]])
    for profile_index, profile in enumerate(spec.profile_names[: spec.segment_count]):
        in_profile = (weeks["profile"] == profile) & (weeks["is_fraud"] == 0)
        if in_profile.sum() < 3_000:
            continue
        weights = spec.day_of_week_weight[profile_index]
        expected = weights / weights.sum()
        for day in range(7):
            observed = float(np.mean(weekday[in_profile] == day))
            assert _share_ok(observed, expected[day], int(in_profile.sum())), (profile, day, observed, expected[day])


def test_fraud_row_share_is_about_one_percent_by_default(year):
    share = float(np.mean(year["is_fraud"]))
    # Sparkov's own output has about 1% fraudulent rows.
    assert 0.007 <= share <= 0.013, share


def test_fraud_share_is_configurable():
    none = _table(GeneratorParams(seed=5, customers=300, fraud_share=0.0), dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    half = _table(GeneratorParams(seed=5, customers=300, fraud_share=0.5), dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    full = _table(GeneratorParams(seed=5, customers=300, fraud_share=1.0), dt.date(2025, 1, 1), dt.date(2025, 6, 30))

    def customers_with_fraud(table: pa.Table) -> int:
        fraud = table.filter(pa.compute.equal(table["is_fraud"], 1))
        return len(set(fraud["cc_num"].to_pylist()))

    assert customers_with_fraud(none) == 0
    # Half of the 300 customers have an episode in the year's window, ~half of
    # those in its first half: expect ~75 (sd ~7.5); all customers: ~150.
    assert 40 <= customers_with_fraud(half) <= 110
    assert 120 <= customers_with_fraud(full) <= 180


def test_fraud_night_hour_share(year):
    fraud = year["is_fraud"] == 1
    hours = np.array([int(t[:2]) for t in year["trans_time"][fraud]])
    night = np.isin(hours, [0, 1, 2, 3, 22, 23])
    assert _share_ok(float(night.mean()), FRAUD_NIGHT_SHARE, int(fraud.sum())), night.mean()


def test_fraud_episodes_span_two_days_and_replace_normal_rows(year):
    fraud = year["is_fraud"] == 1
    episode_days: dict[str, set[str]] = {}
    for card, day in zip(year["cc_num"][fraud], year["trans_date"][fraud], strict=True):
        episode_days.setdefault(card, set()).add(str(day))
    assert episode_days
    for card, days in episode_days.items():
        ordered = sorted(dt.date.fromisoformat(d) for d in days)
        # Episodes are at most two consecutive days, one per 365-day window;
        # the year may also show the tail of the previous window's episode
        # (one that started on 2024-12-31).
        episodes = [[ordered[0]]]
        for day in ordered[1:]:
            if (day - episodes[-1][-1]).days == 1 and len(episodes[-1]) < 2:
                episodes[-1].append(day)
            else:
                episodes.append([day])
        starts_in_year = [e for e in episodes if e[0] >= dt.date(2025, 1, 1) and e != [dt.date(2025, 1, 1)]]
        assert len(starts_in_year) <= 1, (card, ordered)
    fraud_card_days = {(card, day) for card, days in episode_days.items() for day in days}
    normal = ~fraud
    normal_card_days = set(
        zip(year["cc_num"][normal].tolist(), year["trans_date"][normal].astype(str).tolist(), strict=True)
    )
    assert not fraud_card_days & normal_card_days


def test_travel_share(weeks, spec):
    places = load_places()
    inputs = customer_profile_inputs(GeneratorParams(seed=11, customers=6_000), weeks["customers"])
    card_to_customer = {}
    batch = customer_batch(GeneratorParams(seed=11, customers=6_000), weeks["customers"])
    for index, card in enumerate(batch.column("cc_num").to_pylist()):
        card_to_customer[card] = index
    customer = np.array([card_to_customer[c] for c in weeks["cc_num"]])
    home_lat, home_long = inputs.lat[customer], inputs.long[customer]
    outside_box = (np.abs(weeks["merch_lat"] - home_lat) > HOME_MERCHANT_DEGREES + 1e-6) | (
        np.abs(((weeks["merch_long"] - home_long + 180) % 360) - 180) > HOME_MERCHANT_DEGREES + 1e-6
    )
    # Travel merchants are uniform over a disc of radius R miles; a share of
    # them still lands inside the +/-1 degree box around home.
    profile_index = np.array([spec.profile_names.index(p) for p in weeks["profile"]])
    radius = spec.travel_max_miles[profile_index]
    box_area = (2 * MILES_PER_DEGREE) * (2 * MILES_PER_DEGREE * np.cos(np.radians(home_lat)))
    inside_share = np.minimum(1.0, box_area / (np.pi * radius**2))
    expected = float(np.mean(spec.travel_share[profile_index] * (1 - inside_share)))
    observed = float(outside_box.mean())
    assert expected > 0.1
    assert abs(observed - expected) <= 0.05 * expected, (observed, expected)
    assert places is not None


def test_urban_and_rural_homes_in_proportion_to_population():
    places = load_places()
    params = GeneratorParams(seed=3, customers=200_000)
    inputs = customer_profile_inputs(params, np.arange(params.customers))
    rural = float(np.mean(inputs.city_pop < 2_500))
    expected = float(places.city_pop[places.city_pop < 2_500].sum() / places.city_pop.sum())
    assert 0.02 < expected < 0.1
    assert _share_ok(rural, expected, params.customers), (rural, expected)


def test_age_and_gender_follow_the_demographics_table(spec):
    params = GeneratorParams(seed=3, customers=200_000)
    inputs = customer_profile_inputs(params, np.arange(params.customers))
    male = float(inputs.is_male.mean())
    assert _share_ok(male, spec.demographic_male.sum(), params.customers)
    ages = age_at(inputs.dob_ordinal, np.full(params.customers, params.epoch.toordinal()))
    young = float(np.mean(ages < 25))
    expected_young = float((spec.demographic_male + spec.demographic_female)[spec.demographic_ages < 25].sum())
    assert _share_ok(young, expected_young, params.customers, floor=0.005)
    assert ages.min() >= 15 and ages.max() <= 96


def test_segment_follows_age_at_the_transaction_date(spec):
    # A man born 2000-06-15 in a city is young until his 25th birthday.
    born = dt.date(2000, 6, 15).toordinal()
    days = np.array([dt.date(2025, 6, 14).toordinal(), dt.date(2025, 6, 15).toordinal()])
    ages = age_at(np.array([born, born]), days)
    assert ages.tolist() == [24, 25]
    segments = segment_of(spec, np.array([True, True]), ages, np.array([50_000, 50_000]))
    assert [spec.segment_names[s] for s in segments] == ["young_adults_male_urban", "adults_2550_male_urban"]


def test_leap_day_birthdays():
    born = dt.date(2004, 2, 29).toordinal()
    days = np.array([dt.date(2025, 2, 28).toordinal(), dt.date(2025, 3, 1).toordinal()])
    assert age_at(np.array([born, born]), days).tolist() == [20, 21]


def test_identifiers_are_unique_and_cards_pass_luhn():
    params = GeneratorParams(seed=9, customers=50_000)
    customers = customer_batch(params, np.arange(params.customers))
    for column in ("cc_num", "ssn", "acct_num"):
        values = customers.column(column).to_pylist()
        assert len(set(values)) == len(values), column
    for card in customers.column("cc_num").to_pylist()[:5_000]:
        digits = [int(c) for c in card]
        total = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
        assert total % 10 == 0, card
        assert 12 <= len(card) <= 19
    ssn = customers.column("ssn").to_pylist()
    assert all(s[3] == "-" and s[6] == "-" and s[:3] not in ("000", "666") and not s.startswith("9") for s in ssn)


def test_transaction_ids_are_unique(year):
    assert len(np.unique(year["trans_num"])) == len(year["trans_num"])
    assert all(len(t) == 32 for t in year["trans_num"][:100])


def test_unix_time_is_utc_of_date_and_time(year):
    for day, clock, unix in list(zip(year["trans_date"], year["trans_time"], year["unix_time"], strict=True))[:500]:
        stamp = dt.datetime.combine(dt.date.fromisoformat(str(day)), dt.time.fromisoformat(str(clock)), tzinfo=dt.UTC)
        assert int(stamp.timestamp()) == int(unix)
