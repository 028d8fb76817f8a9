"""Synthetic card holders: every attribute is a pure function of (params, index).

`customer_profile_inputs` gives what transactions need (cheap); `customer_batch`
gives the full bronze record, with Faker-style personal data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraud_lakehouse.generator import random as rnd
from fraud_lakehouse.generator.params import MAX_CUSTOMERS, GeneratorParams
from fraud_lakehouse.generator.places import load_places
from fraud_lakehouse.generator.spec import Spec, leap_year_day_index, load_spec
from fraud_lakehouse.generator.vocabulary import WeightedWords, load_vocabulary

# Stream ids: one per independent random quantity of a customer.
DEMOGRAPHICS, BIRTHDAY, HOME, RATE, FRAUD_RATE, FIRST_NAME, LAST_NAME = range(1, 8)
STREET_NUMBER, STREET_NUMBER_FORMAT, STREET_NAME, STREET_NAME_FORMAT, STREET_SUFFIX = range(8, 13)
ZIP, JOB, CARD_PREFIX, NUMBER_SPACES = range(13, 17)

DAYS_PER_YEAR = 365.2425
UNIX_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()

CUSTOMER_SCHEMA = pa.schema(
    [
        ("ssn", pa.string()),
        ("cc_num", pa.string()),
        ("first", pa.string()),
        ("last", pa.string()),
        ("gender", pa.string()),
        ("street", pa.string()),
        ("city", pa.string()),
        ("state", pa.string()),
        ("zip", pa.string()),
        ("lat", pa.float64()),
        ("long", pa.float64()),
        ("city_pop", pa.int64()),
        ("job", pa.string()),
        ("dob", pa.date32()),
        ("acct_num", pa.string()),
        ("profile", pa.string()),
    ]
)


@dataclass(frozen=True)
class CustomerInputs:
    """The attributes of customers that drive their transactions."""

    ids: np.ndarray  # int64
    is_male: np.ndarray
    dob_ordinal: np.ndarray  # int64 proleptic ordinal
    place: np.ndarray  # index into places
    lat: np.ndarray
    long: np.ndarray
    city_pop: np.ndarray
    rate_u: np.ndarray  # uniform choosing the normal daily rate
    fraud_rate_u: np.ndarray  # uniform choosing the episode's rate


def customer_profile_inputs(params: GeneratorParams, ids: np.ndarray) -> CustomerInputs:
    spec = load_spec()
    places = load_places()
    ids = np.asarray(ids, dtype=np.int64)

    def u(stream: int) -> np.ndarray:
        return rnd.uniform_for(rnd.stream_key(params.seed, stream), ids)

    ages = spec.demographic_ages
    # One table of (age, gender) cells: males first, then females.
    cell_probability = np.concatenate([spec.demographic_male, spec.demographic_female])
    cumulative = np.cumsum(cell_probability) / cell_probability.sum()
    cumulative[-1] = 1.0
    cell = rnd.choose_by_cumulative(u(DEMOGRAPHICS), cumulative)
    is_male = cell < len(ages)
    age_at_epoch = ages[cell % len(ages)]
    # Birthday uniform within the year that makes the customer `age` at the epoch.
    days_before_epoch = np.floor((age_at_epoch + u(BIRTHDAY)) * DAYS_PER_YEAR).astype(np.int64)
    dob = params.epoch.toordinal() - days_before_epoch
    place = rnd.choose_by_cumulative(u(HOME), places.cumulative_share)
    return CustomerInputs(
        ids=ids,
        is_male=is_male,
        dob_ordinal=dob,
        place=place,
        lat=places.lat[place],
        long=places.long[place],
        city_pop=places.city_pop[place],
        rate_u=u(RATE),
        fraud_rate_u=u(FRAUD_RATE),
    )


def ordinals_to_datetime64(ordinals: np.ndarray) -> np.ndarray:
    return (np.asarray(ordinals, dtype=np.int64) - UNIX_EPOCH_ORDINAL).astype("datetime64[D]")


def age_at(dob_ordinal: np.ndarray, day_ordinal: np.ndarray) -> np.ndarray:
    """Whole years between birth and the day (vectorized, calendar exact)."""
    dob_ordinal, day_ordinal = np.asarray(dob_ordinal), np.asarray(day_ordinal)
    years = ordinals_to_datetime64(day_ordinal).astype("datetime64[Y]").astype(np.int64) - ordinals_to_datetime64(
        dob_ordinal
    ).astype("datetime64[Y]").astype(np.int64)
    # Position in the year on a 366-day calendar, so a Feb 29 birthday falls
    # after Feb 28 and before Mar 1 in every year.
    return years - (leap_year_day_index(day_ordinal) < leap_year_day_index(dob_ordinal))


def segment_of(spec: Spec, is_male: np.ndarray, age: np.ndarray, city_pop: np.ndarray) -> np.ndarray:
    """Index of the first segment matching gender, age and city population."""
    matches = (
        (is_male[:, None] == spec.segment_is_male[None, :])
        & (age[:, None] >= spec.segment_age_min[None, :])
        & (age[:, None] < spec.segment_age_max[None, :])
        & (city_pop[:, None] >= spec.segment_pop_min[None, :])
        & (city_pop[:, None] < spec.segment_pop_max[None, :])
    )
    if not matches.any(axis=1).all():
        raise ValueError("a customer matches no segment; the profiles must cover every age and population")
    return matches.argmax(axis=1)


def daily_rate(spec: Spec, profile: np.ndarray, u: np.ndarray) -> np.ndarray:
    low, high = spec.rate_min[profile], spec.rate_max[profile]
    return low + rnd.integers_below(u, high - low + 1)


def _draw_words(words: WeightedWords, u: np.ndarray) -> np.ndarray:
    return words.words[rnd.choose_by_cumulative(u, words.cumulative)]


def _bijection(ids: np.ndarray, modulus: int, root: np.uint64, multiplier: int) -> np.ndarray:
    """An injective, scrambled map of customer indices into [0, modulus).

    The indices are first permuted within [0, MAX_CUSTOMERS) so that
    neighbouring customers get unrelated numbers, then mapped by an affine
    bijection of [0, modulus) (gcd(multiplier, modulus) = 1).
    """
    scrambled = rnd.permute_below(ids, MAX_CUSTOMERS, rnd.combine(root, 1))
    offset = int(root) % modulus
    # scrambled < 2**24 and multiplier < 2**23 keep the product inside int64
    return (scrambled * multiplier + offset) % modulus


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """[n, width] array of decimal digits, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers[None, :]) % 10


def _luhn_check_digit(digits: np.ndarray) -> np.ndarray:
    """Check digit for [n, L] payload digits (the digit is appended after them)."""
    reversed_digits = digits[:, ::-1]
    doubled = reversed_digits[:, 0::2] * 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    total = doubled.sum(axis=1) + reversed_digits[:, 1::2].sum(axis=1)
    return (10 - total % 10) % 10


def _digit_strings(digits: np.ndarray) -> pa.Array:
    """Turn an [n, w] digit array into n strings, without a per-row Python loop."""
    n, width = digits.shape
    data = (digits.astype(np.uint8) + ord("0")).tobytes()
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def card_numbers(params: GeneratorParams, ids: np.ndarray) -> pa.Array:
    """Luhn-valid card numbers in Faker's en_US formats, unique per customer."""
    vocabulary = load_vocabulary()
    prefixes = vocabulary.card_prefixes
    choice = rnd.integers_below(rnd.uniform_for(rnd.stream_key(params.seed, CARD_PREFIX), ids), len(prefixes))
    chunks: list[pa.Array] = []
    chunk_rows: list[np.ndarray] = []
    for index, card in enumerate(prefixes):
        rows = np.nonzero(choice == index)[0]
        if rows.size == 0:
            continue
        body = _bijection(ids[rows], 10**card.body_digits, rnd.stream_key(params.seed, 1000 + index), 7_777_777)
        prefix_digits = np.array([int(ch) for ch in card.prefix], dtype=np.int64)
        payload = np.hstack(
            [np.broadcast_to(prefix_digits, (rows.size, prefix_digits.size)), _digits(body, card.body_digits)]
        )
        chunks.append(_digit_strings(np.hstack([payload, _luhn_check_digit(payload)[:, None]])))
        chunk_rows.append(rows)
    if not chunks:
        return pa.array([], pa.string())
    # Put the per-format chunks back in customer order, inside Arrow.
    order = np.empty(len(ids), dtype=np.int64)
    order[np.concatenate(chunk_rows)] = np.arange(len(ids))
    return pa.concat_arrays(chunks).take(pa.array(order))


def ssns(params: GeneratorParams, ids: np.ndarray) -> pa.Array:
    """US SSNs as Faker makes them (area 001-899 but 666, group 01-99, serial 0001-9999), unique."""
    areas, groups, serials = 898, 99, 9999
    # 1_000_003 is prime and shares no factor with 898 * 99 * 9999.
    index = _bijection(ids, areas * groups * serials, rnd.stream_key(params.seed, NUMBER_SPACES), 1_000_003)
    area = index // (groups * serials) + 1
    area = np.where(area >= 666, area + 1, area)
    group = (index // serials) % groups + 1
    serial = index % serials + 1
    digits = np.hstack([_digits(area, 3), _digits(group, 2), _digits(serial, 4)])
    dash = np.full((len(ids), 1), ord("-") - ord("0"))
    return _digit_strings(np.hstack([digits[:, :3], dash, digits[:, 3:5], dash, digits[:, 5:]]))


@lru_cache(maxsize=1)
def _place_zip_ranges() -> tuple[np.ndarray, np.ndarray]:
    """Faker's ZIP range of each place's state, aligned with the places table."""
    ranges = load_vocabulary().state_zip_ranges
    states = load_places().state
    return (
        np.array([ranges[state][0] for state in states], dtype=np.int64),
        np.array([ranges[state][1] for state in states], dtype=np.int64),
    )


def customer_batch(params: GeneratorParams, ids: np.ndarray) -> pa.RecordBatch:
    """The bronze customer records for the given customer indices."""
    spec = load_spec()
    places = load_places()
    vocabulary = load_vocabulary()
    core = customer_profile_inputs(params, ids)
    ids = core.ids
    n = len(ids)

    def u(stream: int) -> np.ndarray:
        return rnd.uniform_for(rnd.stream_key(params.seed, stream), ids)

    first = np.where(
        core.is_male,
        _draw_words(vocabulary.first_male, u(FIRST_NAME)),
        _draw_words(vocabulary.first_female, u(FIRST_NAME)),
    )
    last = _draw_words(vocabulary.last, u(LAST_NAME))
    # Faker street_address: building number ('#####', '####' or '###'), then
    # '{first_name} {suffix}' or '{last_name} {suffix}'.
    number_width = 5 - rnd.integers_below(u(STREET_NUMBER_FORMAT), 3)
    number = 10 ** (number_width - 1) + rnd.integers_below(u(STREET_NUMBER), 9 * 10 ** (number_width - 1))
    street_name_u = u(STREET_NAME)
    street_name = np.where(
        u(STREET_NAME_FORMAT) < 0.5,
        _draw_words(vocabulary.first_male, street_name_u),
        _draw_words(vocabulary.last, street_name_u),
    )
    suffix = vocabulary.street_suffixes[rnd.integers_below(u(STREET_SUFFIX), len(vocabulary.street_suffixes))]
    street = pc.binary_join_element_wise(
        pa.array(number.astype(str)), pa.array(street_name, pa.string()), pa.array(suffix, pa.string()), " "
    )
    state = places.state[core.place]
    zip_low, zip_high = _place_zip_ranges()
    zip_low, zip_high = zip_low[core.place], zip_high[core.place]
    zip_code = zip_low + rnd.integers_below(u(ZIP), zip_high - zip_low + 1)
    job = vocabulary.jobs[rnd.integers_below(u(JOB), len(vocabulary.jobs))]
    account = _bijection(ids, 10**12, rnd.stream_key(params.seed, NUMBER_SPACES + 100), 7_654_321)
    epoch = np.full(n, params.epoch.toordinal())
    segment = segment_of(spec, core.is_male, age_at(core.dob_ordinal, epoch), core.city_pop)
    columns = [
        ssns(params, ids),
        card_numbers(params, ids),
        pa.array(first, pa.string()),
        pa.array(last, pa.string()),
        pa.array(np.where(core.is_male, "M", "F"), pa.string()),
        street,
        pa.array(places.city[core.place], pa.string()),
        pa.array(state, pa.string()),
        _digit_strings(_digits(zip_code, 5)),
        pa.array(core.lat),
        pa.array(core.long),
        pa.array(core.city_pop),
        pa.array(job, pa.string()),
        pa.array((core.dob_ordinal - UNIX_EPOCH_ORDINAL).astype(np.int32), pa.int32()).cast(pa.date32()),
        _digit_strings(_digits(account, 12)),
        pa.array(np.array(spec.segment_names, dtype=object)[segment], pa.string()),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=CUSTOMER_SCHEMA)
