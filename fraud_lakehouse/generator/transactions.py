"""Synthetic card transactions, vectorized over customers x days.

For each customer and day: the customer's segment from the age at that day;
a Poisson number of normal transactions with mean rate x (day weight / mean
day weight), where the day weight is day-of-week x time-of-year x year; each
transaction draws its category, half day, hour, amount (from the category's
gamma in its own profile), merchant and merchant location independently.

Fraud: in every 365-day window after the epoch a customer has an episode
with probability ``fraud_share``: two consecutive calendar days starting on
a uniform day of the window, carrying ``rate`` fraud transactions drawn from
the segment's fraud profile and split between the two days by their
weights; the customer's normal transactions on those days are dropped.

All draws are hashed from (seed, customer, day, sequence, field), so a day's
rows are identical whether it is generated alone or inside a range, and on
any number of partitions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

from fraud_lakehouse.generator import random as rnd
from fraud_lakehouse.generator.customers import (
    UNIX_EPOCH_ORDINAL,
    CustomerInputs,
    age_at,
    card_numbers,
    customer_profile_inputs,
    daily_rate,
    segment_of,
)
from fraud_lakehouse.generator.params import EPISODE_WINDOW_DAYS, GeneratorParams
from fraud_lakehouse.generator.spec import (
    AM_HOURS,
    FRAUD_NIGHT_AM_HOURS,
    FRAUD_NIGHT_PM_HOURS,
    FRAUD_NIGHT_SHARE,
    Spec,
    leap_year_day_index,
    load_spec,
)
from fraud_lakehouse.generator.vocabulary import load_vocabulary

MERCHANTS_PER_CATEGORY = 50
MILES_PER_DEGREE = 69.0
# Merchants of a non-travel transaction lie within +/- this many degrees of home.
HOME_MERCHANT_DEGREES = 1.0
# (customer, day) cells per vectorized step: large enough to amortise numpy's
# per-call cost, small enough to keep a step's arrays in tens of MB.
CELLS_PER_STEP = 65_536
SECONDS_PER_DAY = 86_400

# Stream ids of the transaction draws.
(
    COUNT,
    EPISODE,
    EPISODE_START,
    EPISODE_SPLIT,
    ROW,
    CATEGORY,
    HALF_DAY,
    HOUR,
    NIGHT,
    SECOND,
    AMOUNT,
    SMALL_AMOUNT,
    MERCHANT,
    TRAVEL,
    TRAVEL_DISTANCE,
    TRAVEL_BEARING,
    NEAR_LAT,
    NEAR_LONG,
    TRANS_NUM,
    MERCHANT_NAMES,
) = range(101, 121)

# The per-row draws, two from each hash (see random.uniform_pair).
ROW_DRAW_PAIRS = (
    (CATEGORY, HALF_DAY),
    (HOUR, NIGHT),
    (SECOND, SMALL_AMOUNT),
    (MERCHANT, TRAVEL),
    (TRAVEL_DISTANCE, TRAVEL_BEARING),
    (NEAR_LAT, NEAR_LONG),
)

TRANSACTION_SCHEMA = pa.schema(
    [
        ("trans_num", pa.string()),
        ("cc_num", pa.string()),
        ("trans_date", pa.date32()),
        ("trans_time", pa.string()),
        ("unix_time", pa.int64()),
        ("category", pa.string()),
        ("amt", pa.float64()),
        ("is_fraud", pa.int32()),
        ("merchant", pa.string()),
        ("merch_lat", pa.float64()),
        ("merch_long", pa.float64()),
        ("profile", pa.string()),
        ("detection_date", pa.date32()),
    ]
)


@dataclass(frozen=True)
class _Streams:
    """Root keys of every stream for one seed."""

    count: np.uint64
    episode: np.uint64
    episode_start: np.uint64
    episode_split: np.uint64
    row: np.uint64
    trans_num: np.uint64

    @classmethod
    def for_seed(cls, seed: int) -> _Streams:
        return cls(
            count=rnd.stream_key(seed, COUNT),
            episode=rnd.stream_key(seed, EPISODE),
            episode_start=rnd.stream_key(seed, EPISODE_START),
            episode_split=rnd.stream_key(seed, EPISODE_SPLIT),
            row=rnd.stream_key(seed, ROW),
            trans_num=rnd.stream_key(seed, TRANS_NUM),
        )


@lru_cache(maxsize=8)
def merchant_names(seed: int) -> pa.Array:
    """MERCHANTS_PER_CATEGORY names per category, in Faker's company formats.

    Index = category * MERCHANTS_PER_CATEGORY + k.
    """
    spec, vocabulary = load_spec(), load_vocabulary()
    count = len(spec.categories) * MERCHANTS_PER_CATEGORY
    ids = np.arange(count)
    root = rnd.stream_key(seed, MERCHANT_NAMES)
    last = vocabulary.last

    def name(part: int) -> np.ndarray:
        return last.words[rnd.choose_by_cumulative(rnd.uniform_for(root, ids, part), last.cumulative)]

    suffix = vocabulary.company_suffixes[
        rnd.integers_below(rnd.uniform_for(root, ids, 10), len(vocabulary.company_suffixes))
    ]
    form = rnd.integers_below(rnd.uniform_for(root, ids, 11), 3)
    a, b, c = name(1), name(2), name(3)
    names = [
        f"{a[i]} {suffix[i]}" if form[i] == 0 else f"{a[i]}-{b[i]}" if form[i] == 1 else f"{a[i]}, {b[i]} and {c[i]}"
        for i in range(count)
    ]
    return pa.array(names, pa.string())


@lru_cache(maxsize=8)
def _names(names: tuple[str, ...]) -> pa.Array:
    """Names as an Arrow array, so that rows take them by index in Arrow's C++."""
    return pa.array(names, pa.string())


def day_weight(spec: Spec, profile: np.ndarray, day_ordinal: np.ndarray, epoch_ordinal: int) -> np.ndarray:
    """Relative weight of a calendar day for a profile (day of week x time of year x year)."""
    day_of_week = (day_ordinal - 1) % 7  # ordinal 1 (0001-01-01) was a Monday
    year_index = np.clip((day_ordinal - epoch_ordinal) // EPISODE_WINDOW_DAYS, 0, spec.year_weight.shape[1] - 1)
    return (
        spec.day_of_week_weight[profile, day_of_week]
        * spec.time_of_year_weight[profile, leap_year_day_index(day_ordinal)]
        * spec.year_weight[profile, year_index]
    )


@dataclass(frozen=True)
class _Episodes:
    """Fraud episode state of (customer, day) cells."""

    on_episode_day: np.ndarray  # bool
    fraud_profile: np.ndarray  # profile index, valid where on_episode_day
    fraud_count: np.ndarray  # fraud rows on this day


def _episodes(
    params: GeneratorParams,
    spec: Spec,
    streams: _Streams,
    customers: CustomerInputs,
    cell_customer: np.ndarray,
    cell_day: np.ndarray,
) -> _Episodes:
    epoch = params.epoch.toordinal()
    ids = customers.ids[cell_customer]
    on_day = np.zeros(cell_day.shape, dtype=bool)
    start = np.zeros(cell_day.shape, dtype=np.int64)
    window_of_start = np.zeros(cell_day.shape, dtype=np.int64)
    # An episode covers its start day and the next, so a day can belong to the
    # episode of its own window or (on a window's first day) the previous one.
    for lag in (0, 1):
        window = (cell_day - lag - epoch) // EPISODE_WINDOW_DAYS
        has_episode = rnd.uniform_for(streams.episode, ids, window) < params.fraud_share
        window_start = epoch + window * EPISODE_WINDOW_DAYS
        episode_start = window_start + rnd.integers_below(
            rnd.uniform_for(streams.episode_start, ids, window), EPISODE_WINDOW_DAYS
        )
        hit = ~on_day & has_episode & ((cell_day - episode_start == 0) | (cell_day - episode_start == 1))
        on_day |= hit
        start = np.where(hit, episode_start, start)
        window_of_start = np.where(hit, window, window_of_start)
    fraud_profile = np.zeros(cell_day.shape, dtype=np.int64)
    fraud_count = np.zeros(cell_day.shape, dtype=np.int64)
    cells = np.nonzero(on_day)[0]
    if cells.size:
        c = cell_customer[cells]
        episode_start = start[cells]
        segment = segment_of(
            spec, customers.is_male[c], age_at(customers.dob_ordinal[c], episode_start), customers.city_pop[c]
        )
        profile = spec.segment_count + segment
        total = daily_rate(spec, profile, customers.fraud_rate_u[c])
        first_weight = day_weight(spec, profile, episode_start, epoch)
        second_weight = day_weight(spec, profile, episode_start + 1, epoch)
        first_share = first_weight / (first_weight + second_weight)
        # Each of the episode's transactions falls on the first day with that share.
        max_total = int(spec.rate_max[spec.segment_count :].max())
        slot = np.arange(max_total)
        u = rnd.uniform_for(streams.episode_split, ids[cells][:, None], window_of_start[cells][:, None], slot[None, :])
        on_first = ((u < first_share[:, None]) & (slot[None, :] < total[:, None])).sum(axis=1)
        is_first_day = cell_day[cells] == episode_start
        fraud_profile[cells] = profile
        fraud_count[cells] = np.where(is_first_day, on_first, total - on_first)
    return _Episodes(on_day, fraud_profile, fraud_count)


# Two lowercase hex characters for every byte value, as little-endian uint16.
_HEX_PAIRS = np.frombuffer(b"".join(f"{byte:02x}".encode() for byte in range(256)), dtype="<u2")


def _hex32(first: np.ndarray, second: np.ndarray) -> pa.Array:
    """32 lowercase hex characters from two uint64 arrays, vectorized."""
    n = first.shape[0]
    words = np.empty((n, 2), dtype=">u8")
    words[:, 0], words[:, 1] = first, second
    chars = _HEX_PAIRS[words.view(np.uint8).reshape(n, 16)]
    offsets = np.arange(0, (n + 1) * 32, 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def _clock(seconds: np.ndarray) -> pa.Array:
    """'HH:MM:SS' strings for seconds of the day, vectorized."""
    n = seconds.shape[0]
    hours, rest = np.divmod(seconds, 3600)
    minutes, secs = np.divmod(rest, 60)
    chars = np.empty((n, 8), dtype=np.uint8)
    zero, colon = ord("0"), ord(":")
    chars[:, 0], chars[:, 1] = hours // 10 + zero, hours % 10 + zero
    chars[:, 2] = colon
    chars[:, 3], chars[:, 4] = minutes // 10 + zero, minutes % 10 + zero
    chars[:, 5] = colon
    chars[:, 6], chars[:, 7] = secs // 10 + zero, secs % 10 + zero
    offsets = np.arange(0, (n + 1) * 8, 8, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def _fraud_hour(is_am: np.ndarray, night: np.ndarray, hour_u: np.ndarray) -> np.ndarray:
    """Hours of fraud rows: mostly 00-03 in the morning and 22-23 in the evening."""
    am_night_hours = FRAUD_NIGHT_AM_HOURS[1] - FRAUD_NIGHT_AM_HOURS[0]
    pm_night_hours = FRAUD_NIGHT_PM_HOURS[1] - FRAUD_NIGHT_PM_HOURS[0]
    am_hour = np.where(
        night,
        FRAUD_NIGHT_AM_HOURS[0] + rnd.integers_below(hour_u, am_night_hours),
        FRAUD_NIGHT_AM_HOURS[1] + rnd.integers_below(hour_u, AM_HOURS - am_night_hours),
    )
    pm_hour = np.where(
        night,
        FRAUD_NIGHT_PM_HOURS[0] + rnd.integers_below(hour_u, pm_night_hours),
        AM_HOURS + rnd.integers_below(hour_u, AM_HOURS - pm_night_hours),
    )
    return np.where(is_am, am_hour, pm_hour)


def transaction_id(streams: _Streams, day_ordinal: np.ndarray, customer: np.ndarray, seq: np.ndarray) -> pa.Array:
    """Unique 32-hex transaction ids.

    (day since 1970: 17 bits, customer: 31 bits, sequence: 16 bits) packs
    into 64 bits; xor with a seed key and the SplitMix64 finaliser are both
    bijections, so distinct rows always get distinct ids.
    """
    packed = (
        ((day_ordinal - UNIX_EPOCH_ORDINAL).astype(np.uint64) << np.uint64(47))
        | (customer.astype(np.uint64) << np.uint64(16))
        | seq.astype(np.uint64)
    )
    first = rnd.mix64(packed ^ streams.trans_num)
    second = rnd.mix64(first ^ np.uint64(0xD6E8FEB86659FD93))
    return _hex32(first, second)


def _rows_for_cells(
    params: GeneratorParams,
    spec: Spec,
    streams: _Streams,
    customers: CustomerInputs,
    cards: pa.Array,
    cell_customer: np.ndarray,
    cell_day: np.ndarray,
) -> pa.RecordBatch:
    epoch = params.epoch.toordinal()
    ids = customers.ids[cell_customer]
    segment = segment_of(
        spec,
        customers.is_male[cell_customer],
        age_at(customers.dob_ordinal[cell_customer], cell_day),
        customers.city_pop[cell_customer],
    )
    rate = daily_rate(spec, segment, customers.rate_u[cell_customer])
    expected = rate * day_weight(spec, segment, cell_day, epoch) / spec.mean_day_weight[segment]
    normal_count = rnd.poisson(streams.count, rnd.combine(ids, cell_day), expected)
    episodes = _episodes(params, spec, streams, customers, cell_customer, cell_day)
    count = np.where(episodes.on_episode_day, episodes.fraud_count, normal_count)

    cell_of_row = np.repeat(np.arange(cell_day.shape[0]), count)
    n = cell_of_row.shape[0]
    first_row_of_cell = np.cumsum(count) - count
    seq = np.arange(n) - first_row_of_cell[cell_of_row]
    row_customer = cell_customer[cell_of_row]
    row_id = customers.ids[row_customer]
    row_day = cell_day[cell_of_row]
    is_fraud = episodes.on_episode_day[cell_of_row]
    profile = np.where(is_fraud, episodes.fraud_profile[cell_of_row], segment[cell_of_row])
    row_key = rnd.combine(rnd.combine(rnd.combine(streams.row, row_id), row_day), seq)

    draws: dict[int, np.ndarray] = {}
    for first, second in ROW_DRAW_PAIRS:
        draws[first], draws[second] = rnd.uniform_pair(rnd.combine(row_key, first))

    def u(field: int) -> np.ndarray:
        return draws[field]

    category = rnd.choose_by_cumulative(u(CATEGORY), spec.category_cum_weight[profile])
    is_am = u(HALF_DAY) < spec.am_share[profile]
    hour_u, night = u(HOUR), u(NIGHT) < FRAUD_NIGHT_SHARE
    hour = np.where(is_am, 0, AM_HOURS) + rnd.integers_below(hour_u, AM_HOURS)
    fraud_rows = np.flatnonzero(is_fraud)
    if fraud_rows.size:
        hour[fraud_rows] = _fraud_hour(is_am[fraud_rows], night[fraud_rows], hour_u[fraud_rows])
    second_of_day = hour * 3600 + rnd.integers_below(u(SECOND), 3600)

    mean = spec.amount_mean[profile, category]
    stdev = spec.amount_stdev[profile, category]
    amount = rnd.gamma(streams.row, rnd.combine(row_key, AMOUNT), mean**2 / stdev**2, stdev**2 / mean)
    # Sparkov's rule: amounts under 1.00 are replaced by a uniform draw in [1, 10).
    amount = np.where(amount < 1.0, 1.0 + 9.0 * u(SMALL_AMOUNT), amount)
    amount = np.round(amount, 2)

    merchant = category * MERCHANTS_PER_CATEGORY + rnd.integers_below(u(MERCHANT), MERCHANTS_PER_CATEGORY)
    home_lat, home_long = customers.lat[row_customer], customers.long[row_customer]
    travelling = np.flatnonzero(u(TRAVEL) < spec.travel_share[profile])
    merch_lat = home_lat + HOME_MERCHANT_DEGREES * (2.0 * u(NEAR_LAT) - 1.0)
    merch_long = home_long + HOME_MERCHANT_DEGREES * (2.0 * u(NEAR_LONG) - 1.0)
    # Uniform over the disc of the travel radius: distance = R sqrt(U).
    distance = spec.travel_max_miles[profile[travelling]] * np.sqrt(u(TRAVEL_DISTANCE)[travelling])
    bearing = 2.0 * np.pi * u(TRAVEL_BEARING)[travelling]
    travel_from_lat = home_lat[travelling]
    merch_lat[travelling] = travel_from_lat + distance * np.cos(bearing) / MILES_PER_DEGREE
    merch_long[travelling] = home_long[travelling] + distance * np.sin(bearing) / (
        MILES_PER_DEGREE * np.maximum(np.cos(np.radians(travel_from_lat)), 0.01)
    )
    merch_lat = np.clip(merch_lat, -90.0, 90.0)
    merch_long = (merch_long + 180.0) % 360.0 - 180.0

    day_since_1970 = (row_day - UNIX_EPOCH_ORDINAL).astype(np.int32)
    trans_date = pa.array(day_since_1970, pa.int32()).cast(pa.date32())
    columns = [
        transaction_id(streams, row_day, row_id, seq),
        cards.take(pa.array(row_customer)),
        trans_date,
        _clock(second_of_day),
        pa.array(day_since_1970.astype(np.int64) * SECONDS_PER_DAY + second_of_day),
        _names(spec.categories).take(pa.array(category)),
        pa.array(amount),
        pa.array(is_fraud.astype(np.int32)),
        merchant_names(params.seed).take(pa.array(merchant)),
        pa.array(np.round(merch_lat, 6)),
        pa.array(np.round(merch_long, 6)),
        _names(spec.profile_names).take(pa.array(profile)),
        trans_date,
    ]
    return pa.RecordBatch.from_arrays(columns, schema=TRANSACTION_SCHEMA)


def transaction_batches(
    params: GeneratorParams, customer_ids: np.ndarray, start: dt.date, end: dt.date
) -> Iterator[pa.RecordBatch]:
    """Transactions of the given customers on every day of [start, end], inclusive."""
    spec = load_spec()
    streams = _Streams.for_seed(params.seed)
    customers = customer_profile_inputs(params, np.asarray(customer_ids, dtype=np.int64))
    cards = card_numbers(params, customers.ids)
    days = np.arange(start.toordinal(), end.toordinal() + 1, dtype=np.int64)
    count = customers.ids.shape[0]
    days_per_step = max(1, CELLS_PER_STEP // count)
    customers_per_step = min(count, CELLS_PER_STEP)
    for first_day in range(0, days.shape[0], days_per_step):
        step_days = days[first_day : first_day + days_per_step]
        for first_customer in range(0, count, customers_per_step):
            local = np.arange(first_customer, min(first_customer + customers_per_step, count))
            # day-major cells: all customers of the first day, then the next day...
            cell_day = np.repeat(step_days, local.shape[0])
            cell_customer = np.tile(local, step_days.shape[0])
            batch = _rows_for_cells(params, spec, streams, customers, cards, cell_customer, cell_day)
            if batch.num_rows:
                yield batch
