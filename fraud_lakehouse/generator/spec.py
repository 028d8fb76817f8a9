"""The behaviour specification of synthetic card holders, as numpy tables.

`profiles.toml` (beside this module) holds the numbers; this module turns them
into arrays indexed by segment, profile and category so that the generator can
look parameters up for millions of rows at once.

Profile index convention: profile ``p`` in ``[0, S)`` is segment ``p``'s normal
behaviour and ``S + p`` its fraud behaviour, where ``S`` is the segment count.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

NO_UPPER_BOUND = -1
AM_HOURS = 12
# Share of fraud transactions placed in the night hours of their half day:
# 00-03 in the morning, 22-23 in the evening (the Sparkov fraud pattern).
FRAUD_NIGHT_SHARE = 0.8
FRAUD_NIGHT_AM_HOURS = (0, 4)  # [start, end)
FRAUD_NIGHT_PM_HOURS = (22, 24)
# Days outside every time-of-year window weigh this much.
DEFAULT_TIME_OF_YEAR_WEIGHT = 100.0
# A reference non-leap year, used to normalise the time-of-year weights so that
# a customer's expected daily rate does not depend on the dates generated.
_REFERENCE_YEAR = 2023


@dataclass(frozen=True)
class Spec:
    """Every number the generator needs, as arrays."""

    segment_names: tuple[str, ...]
    categories: tuple[str, ...]
    # per segment
    segment_is_male: np.ndarray  # bool[S]
    segment_age_min: np.ndarray  # int[S]
    segment_age_max: np.ndarray  # int[S], large when unbounded
    segment_pop_min: np.ndarray  # int[S]
    segment_pop_max: np.ndarray  # int[S], large when unbounded
    # per profile (2 S rows: normal then fraud)
    rate_min: np.ndarray  # int[P]
    rate_max: np.ndarray  # int[P]
    day_of_week_weight: np.ndarray  # float[P, 7], Monday first
    year_weight: np.ndarray  # float[P, 4]
    time_of_year_weight: np.ndarray  # float[P, 366], by day of a leap year
    am_share: np.ndarray  # float[P]
    travel_share: np.ndarray  # float[P]
    travel_max_miles: np.ndarray  # float[P]
    category_cum_weight: np.ndarray  # float[P, C], cumulative, last column = 1
    category_weight: np.ndarray  # float[P, C], normalised
    amount_mean: np.ndarray  # float[P, C]
    amount_stdev: np.ndarray  # float[P, C]
    # normalising constant of the daily weight, per profile
    mean_day_weight: np.ndarray  # float[P]
    # demographics: ages first_age.. with probabilities for (age, gender)
    demographic_ages: np.ndarray  # int[A]
    demographic_male: np.ndarray  # float[A]
    demographic_female: np.ndarray  # float[A]

    @property
    def segment_count(self) -> int:
        return len(self.segment_names)

    @property
    def profile_names(self) -> tuple[str, ...]:
        return self.segment_names + tuple(f"fraud_{name}" for name in self.segment_names)


def _day_of_leap_year(month_day: str) -> int:
    month, day = (int(part) for part in month_day.split("-"))
    return (dt.date(2024, month, day) - dt.date(2024, 1, 1)).days


def _time_of_year_table(windows: list[dict]) -> np.ndarray:
    """Weight of each day of a leap year (index 0 = Jan 1, 59 = Feb 29)."""
    table = np.full(366, DEFAULT_TIME_OF_YEAR_WEIGHT)
    for window in windows:
        start, end = _day_of_leap_year(window["start"]), _day_of_leap_year(window["end"])
        table[start : end + 1] = float(window["weight"])
    return table


def leap_year_day_index(ordinals: np.ndarray) -> np.ndarray:
    """Index into a 366-day table for proleptic ordinals (as `date.toordinal()`).

    Non-leap years skip Feb 29 so that a window like 05-24..09-01 covers the
    same calendar dates every year.
    """
    dates = ordinals.astype("int64") - dt.date(1970, 1, 1).toordinal()
    as_days = dates.astype("datetime64[D]")
    years = as_days.astype("datetime64[Y]")
    day_of_year = (as_days - years).astype("int64")
    year_numbers = years.astype("int64") + 1970
    is_leap = (year_numbers % 4 == 0) & ((year_numbers % 100 != 0) | (year_numbers % 400 == 0))
    # In a non-leap year every day from Mar 1 on is one index later in the leap table.
    return np.where(~is_leap & (day_of_year >= 59), day_of_year + 1, day_of_year)


@lru_cache(maxsize=1)
def load_spec() -> Spec:
    text = resources.files(__package__).joinpath("profiles.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    categories = tuple(raw["categories"])
    segments = raw["segments"]
    names = tuple(segments)
    big = np.iinfo(np.int64).max

    def upper(value: int) -> int:
        return big if value == NO_UPPER_BOUND else value

    profiles = [segments[name]["normal"] for name in names] + [segments[name]["fraud"] for name in names]
    weights = np.array([[p["categories"][c][0] for c in categories] for p in profiles], dtype=float)
    weights = weights / weights.sum(axis=1, keepdims=True)
    cum = np.cumsum(weights, axis=1)
    cum[:, -1] = 1.0
    day_of_week = np.array([p["day_of_week"] for p in profiles], dtype=float)
    year = np.array([p["year"] for p in profiles], dtype=float)
    time_of_year = np.array([_time_of_year_table(p["time_of_year"]) for p in profiles])
    reference_days = np.arange(
        dt.date(_REFERENCE_YEAR, 1, 1).toordinal(), dt.date(_REFERENCE_YEAR + 1, 1, 1).toordinal()
    )
    mean_time_of_year = time_of_year[:, leap_year_day_index(reference_days)].mean(axis=1)
    mean_day_weight = day_of_week.mean(axis=1) * mean_time_of_year * year.mean(axis=1)
    am_pm = np.array([p["am_pm"] for p in profiles], dtype=float)
    demographics = raw["demographics"]
    male = np.array(demographics["male"], dtype=float)
    female = np.array(demographics["female"], dtype=float)
    total = male.sum() + female.sum()
    return Spec(
        segment_names=names,
        categories=categories,
        segment_is_male=np.array([segments[n]["gender"] == "M" for n in names]),
        segment_age_min=np.array([segments[n]["age"][0] for n in names], dtype=np.int64),
        segment_age_max=np.array([upper(segments[n]["age"][1]) for n in names], dtype=np.int64),
        segment_pop_min=np.array([segments[n]["city_pop"][0] for n in names], dtype=np.int64),
        segment_pop_max=np.array([upper(segments[n]["city_pop"][1]) for n in names], dtype=np.int64),
        rate_min=np.array([p["rate_per_day"][0] for p in profiles], dtype=np.int64),
        rate_max=np.array([p["rate_per_day"][1] for p in profiles], dtype=np.int64),
        day_of_week_weight=day_of_week,
        year_weight=year,
        time_of_year_weight=time_of_year,
        am_share=am_pm[:, 0] / am_pm.sum(axis=1),
        travel_share=np.array([p["travel_pct"] for p in profiles], dtype=float) / 100.0,
        travel_max_miles=np.array([p["travel_max_miles"] for p in profiles], dtype=float),
        category_cum_weight=cum,
        category_weight=weights,
        amount_mean=np.array([[p["categories"][c][1] for c in categories] for p in profiles], dtype=float),
        amount_stdev=np.array([[p["categories"][c][2] for c in categories] for p in profiles], dtype=float),
        mean_day_weight=mean_day_weight,
        demographic_ages=np.arange(demographics["first_age"], demographics["first_age"] + len(male)),
        demographic_male=male / total,
        demographic_female=female / total,
    )
