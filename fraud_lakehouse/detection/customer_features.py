"""Per-customer features in one pass: velocity, the customer's days and history, exact and near copies.

Every one of these looks only at the claims of one customer, so the claims
are hash-partitioned by customer and a vectorized numpy kernel inside
``mapInArrow`` (on Spark 3.5 and Sail alike) computes them all from each
partition's rows. On Sail this replaced a velocity window, five range
windows over customer-days, an exact-copy aggregate, a near-duplicate
self-join and their joins back with one shuffle and the kernel.

The partition is not sorted before the kernel (Sail drops a sort that no
operator after it asks for), so the kernel gathers its whole partition and
orders rows itself. It gives the same figures as the definitions below on
any engine and any partitioning: a customer's rows are always in one
partition, every ordering inside the kernel has full tie-breakers, and sums
of money are sums of whole cents. What the kernel reads that depends on the
session (night hours, the order time of an untimed claim) is computed in
SQL before it. A claim whose customer key is NULL gets NULL features.

Memory: up to ``GATHER_MAX_ROWS`` claims, the claims are split into
``kernel_partitions(rows)`` partitions (about 256 Ki claims each, at least 4:
a repartition that names no count keeps its input's partitions on Sail, so
one landed day went to one partition and one core) and each kernel gathers
its partition whole. The engine runs every partition's kernel at once, so
together they hold every claim: beyond that size (a large day, or a daily
run's look-back over large days) the claims come sorted by customer instead
(a window over the customer orders them; the engine drops a plain sort that
no operator after it asks for, and its sort spills to disk beyond the
engine's memory pool), and the kernel computes them ``CHUNK_ROWS`` claims of
whole customers at a time.

Columns added (per claim):

- ``__recent_claims``: the customer's timed claims with a time (epoch
  second) in [t - velocity window, t]; NULL for an untimed claim.
- per customer and service date: ``__day_claims``, ``__day_night_claims``,
  ``__day_large_claims`` (category z above the burst limit),
  ``__day_large_night_claims`` (those of them in the night hours),
  ``__day_max_amount``, ``__day_max_category_z``;
- over the customer's earlier look-back days [d - L, d - 1] (L at least 1):
  ``__history_day_claims``, ``__history_claims`` (claims with an amount),
  ``__history_mean`` and ``__history_stdev`` (sample) of the amount, from
  sums of whole cents; ``__history_days_covered`` = min(L, d - the
  customer's first day in the data);
- ``__exact_original``: for a later copy (same customer, provider,
  procedure, service date and amount), the claim id of the first copy in
  submission order (submitted date, then ``submission_order_key``: file,
  row, service time, claim id; then detection date); NULL for the first and
  for others;
- ``__near_original``: the claim id of the first earlier claim (in the same
  order) of the same customer and provider, served at most N days before,
  whose similarity reaches the threshold; NULL if none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import is_night
from fraud_lakehouse.detection.config import DetectionConfig

CATEGORY_Z = "category_z"
# Claims per partition of the per-customer pass, and the fewest partitions it has.
KERNEL_PARTITION_ROWS = 262_144
MIN_KERNEL_PARTITIONS = 4
# Computed in SQL before the kernel (they depend on the session time zone), dropped after it.
NIGHT_INPUT = "__in_night"
ORDER_AT_INPUT = "__in_order_at"
SUBMISSION_KEY_INPUT = "__in_submission_key"
CUSTOMER_ORDER_INPUT = "__in_customer_order"
KERNEL_INPUTS = (NIGHT_INPUT, ORDER_AT_INPUT, SUBMISSION_KEY_INPUT, CUSTOMER_ORDER_INPUT)
# Up to this many claims each kernel gathers its partition whole (the fastest way); beyond it, the claims come sorted
# by customer and are computed in chunks of about CHUNK_ROWS claims of whole customers.
GATHER_MAX_ROWS = 4_194_304
CHUNK_ROWS = 262_144
FEATURES: tuple[tuple[str, pa.DataType, str], ...] = (
    ("__recent_claims", pa.int64(), "bigint"),
    ("__day_claims", pa.int64(), "bigint"),
    ("__day_night_claims", pa.int64(), "bigint"),
    ("__day_large_claims", pa.int64(), "bigint"),
    ("__day_large_night_claims", pa.int64(), "bigint"),
    ("__day_max_amount", pa.float64(), "double"),
    ("__day_max_category_z", pa.float64(), "double"),
    ("__history_day_claims", pa.int64(), "bigint"),
    ("__history_claims", pa.int64(), "bigint"),
    ("__history_mean", pa.float64(), "double"),
    ("__history_stdev", pa.float64(), "double"),
    ("__history_days_covered", pa.int32(), "int"),
    ("__exact_original", pa.string(), "string"),
    ("__near_original", pa.string(), "string"),
)
OUTPUT_BATCH_ROWS = 65_536
MICROS_PER_SECOND = 1_000_000


@dataclass(frozen=True)
class KernelSettings:
    """The thresholds the kernel reads, as plain numbers: what the engine ships to its Python workers."""

    lookback_days: int
    velocity_window_seconds: int
    burst_z_score: float
    near_duplicate_days: int
    near_duplicate_similarity: float

    @classmethod
    def of(cls, config: DetectionConfig) -> KernelSettings:
        return cls(
            lookback_days=config.lookback_days,
            velocity_window_seconds=config.velocity_window_minutes * 60,
            burst_z_score=config.burst_z_score,
            near_duplicate_days=config.near_duplicate_days,
            near_duplicate_similarity=config.near_duplicate_similarity,
        )


def similarity(same_procedure: Column, amount: Column, other_amount: Column) -> Column:
    """0.6 x [same procedure] + 0.4 x (1 - |a - b| / max(a, b)): the SQL twin of the kernel's test."""
    closeness = 1 - F.abs(amount - other_amount) / F.greatest(amount, other_amount)
    return 0.6 * same_procedure.cast("double") + 0.4 * closeness


def _similarity(same_procedure: np.ndarray, amount: np.ndarray, other_amount: np.ndarray) -> np.ndarray:
    # The same operations in the same order as ``similarity``, so the doubles are identical.
    closeness = 1 - np.abs(amount - other_amount) / np.maximum(amount, other_amount)
    return 0.6 * same_procedure.astype(np.float64) + 0.4 * closeness


# -- the kernel -------------------------------------------------------------------


def _valid(array: pa.Array) -> np.ndarray:
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _ints(array: pa.Array, dtype: pa.DataType | None = None) -> np.ndarray:
    return array.cast(dtype or pa.int64()).fill_null(0).to_numpy().astype(np.int64)


def _floats(array: pa.Array) -> np.ndarray:
    return array.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)


def _codes(array: pa.Array) -> np.ndarray:
    """Equal values get equal codes (NULL: -1); the codes say nothing of order."""
    encoded = array.dictionary_encode().indices
    return encoded.cast(pa.int64()).fill_null(-1).to_numpy()


def _ranks(array: pa.Array) -> np.ndarray:
    """Codes in the order of the values (strings by their UTF-8 bytes, as Spark compares them)."""
    if len(array) == 0:
        return np.zeros(0, dtype=np.int64)
    return pc.rank(array, sort_keys="ascending", tiebreaker="dense").to_numpy().astype(np.int64)


def _group_starts(sorted_keys: list[np.ndarray]) -> np.ndarray:
    """Whether each row of rows sorted by ``sorted_keys`` starts a new group of equal keys."""
    size = sorted_keys[0].size
    starts = np.ones(size, dtype=bool)
    if size:
        same = np.ones(size - 1, dtype=bool)
        for key in sorted_keys:
            same &= key[1:] == key[:-1]
        starts[1:] = ~same
    return starts


def _packed(customer: np.ndarray, offsets: np.ndarray, bits: int, what: str) -> np.ndarray:
    """customer in the high bits, a non-negative offset in the low ``bits``: one sortable int64."""
    if offsets.size and int(offsets.max()) >= 1 << bits:
        raise ValueError(f"claims span too long a time for the per-customer pass ({what})")
    if customer.size and int(customer.max()).bit_length() + bits > 62:
        raise ValueError("too many customers in one partition for the per-customer pass")
    return (customer << bits) | offsets


SECOND_BITS = 34  # 2^34 s: 544 years of claims
DAY_BITS = 24


def _recent_claims(customer: np.ndarray, epoch: np.ndarray, timed: np.ndarray, window_seconds: int) -> np.ndarray:
    recent = np.zeros(customer.size, dtype=np.int64)
    rows = np.nonzero(timed & (customer >= 0))[0]
    if rows.size:
        key = _packed(customer[rows], epoch[rows] - epoch[rows].min(), SECOND_BITS, "seconds")
        order = np.argsort(key)
        sorted_key = key[order]
        # never before the customer's first claim: the window must not reach into the previous customer
        customer_first = np.searchsorted(sorted_key, (sorted_key >> SECOND_BITS) << SECOND_BITS, "left")
        first = np.maximum(np.searchsorted(sorted_key, sorted_key - window_seconds, "left"), customer_first)
        last = np.searchsorted(sorted_key, sorted_key, "right")
        recent[rows[order]] = last - first
    return recent


def _customer_days(
    customer: np.ndarray,
    day: np.ndarray,
    dated: np.ndarray,
    amount: np.ndarray,
    category_z: np.ndarray,
    night: np.ndarray,
    settings: KernelSettings,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-claim columns of the claim's customer-day and the customer's earlier look-back days, and which
    claims have them (a customer and a service date)."""
    n = customer.size
    out = {
        name: np.zeros(n, dtype=np.int64)
        for name in (
            "__day_claims",
            "__day_night_claims",
            "__day_large_claims",
            "__day_large_night_claims",
            "__history_day_claims",
        )
    }
    out |= {"__history_claims": np.zeros(n, dtype=np.int64), "__history_days_covered": np.zeros(n, dtype=np.int64)}
    out |= {name: np.full(n, np.nan) for name in ("__day_max_amount", "__day_max_category_z")}
    out |= {name: np.full(n, np.nan) for name in ("__history_mean", "__history_stdev")}
    has_day = dated & (customer >= 0)
    rows = np.nonzero(has_day)[0]
    if not rows.size:
        return out, has_day
    key = _packed(customer[rows], day[rows] - day[rows].min(), DAY_BITS, "days")
    order = np.argsort(key)
    rows, key = rows[order], key[order]
    new_group = _group_starts([key])
    starts = np.nonzero(new_group)[0]
    group = np.cumsum(new_group) - 1
    groups = starts.size

    def per_group(values: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=values, minlength=groups)

    amounts = amount[rows]
    has_amount = ~np.isnan(amounts)
    z = category_z[rows]
    has_z = ~np.isnan(z)
    day_claims = np.diff(np.append(starts, rows.size))
    day_night = per_group(night[rows]).astype(np.int64)
    # NaN > limit is False: a claim without a z is not large
    large = z > settings.burst_z_score
    day_large = per_group(large.astype(np.float64)).astype(np.int64)
    day_large_night = per_group((large & (night[rows] > 0)).astype(np.float64)).astype(np.int64)
    day_amounts = per_group(has_amount.astype(np.float64)).astype(np.int64)
    day_max_amount = np.maximum.reduceat(np.where(has_amount, amounts, -np.inf), starts)
    day_max_amount[day_amounts == 0] = np.nan
    day_max_z = np.maximum.reduceat(np.where(has_z, z, -np.inf), starts)
    day_max_z[per_group(has_z.astype(np.float64)) == 0] = np.nan
    # Whole cents, as SQL's floor(amount * 100 + 0.5): integer sums are exact in any order.
    cents = np.where(has_amount, np.floor(np.where(has_amount, amounts, 0.0) * 100 + 0.5), 0.0).astype(np.int64)
    day_cents = np.add.reduceat(cents, starts)
    squares = cents.astype(np.float64) * cents.astype(np.float64)
    day_squares = per_group(squares)  # exact below 2^53, as the SQL sum of the same doubles

    # The earlier look-back days of each customer-day: [d - L, d - 1], within the same customer.
    lookback = max(settings.lookback_days, 1)
    group_key = key[starts]
    customer_first = np.searchsorted(group_key, (group_key >> DAY_BITS) << DAY_BITS, "left")
    first = np.maximum(np.searchsorted(group_key, group_key - lookback, "left"), customer_first)
    here = np.arange(groups)

    def earlier(values: np.ndarray) -> np.ndarray:
        totals = np.concatenate(([0], np.cumsum(values)))
        return totals[here] - totals[first]

    history_day_claims = earlier(day_claims)
    history_claims = earlier(day_amounts)
    history_cents = earlier(day_cents).astype(np.float64)
    history_squares = earlier(day_squares)
    with np.errstate(divide="ignore", invalid="ignore"):
        counted = history_claims.astype(np.float64)
        mean = np.where(history_claims > 0, history_cents / counted / 100, np.nan)
        variance = np.where(
            history_claims > 1,
            (history_squares - history_cents * history_cents / counted) / (counted - 1),
            np.nan,
        )
        stdev = np.where(np.isnan(variance), np.nan, np.sqrt(np.maximum(variance, 0.0)) / 100)
    day_of_group = group_key & ((1 << DAY_BITS) - 1)
    covered = np.minimum(lookback, day_of_group - day_of_group[customer_first])

    for name, values in (
        ("__day_claims", day_claims),
        ("__day_night_claims", day_night),
        ("__day_large_claims", day_large),
        ("__day_large_night_claims", day_large_night),
        ("__day_max_amount", day_max_amount),
        ("__day_max_category_z", day_max_z),
        ("__history_day_claims", history_day_claims),
        ("__history_claims", history_claims),
        ("__history_mean", mean),
        ("__history_stdev", stdev),
        ("__history_days_covered", covered),
    ):
        out[name][rows] = values[group]
    return out, has_day


def _group_ids(codes: list[np.ndarray]) -> np.ndarray:
    """One int64 per row, equal exactly when every code is (codes are >= -1, -1 for NULL)."""
    packed = np.zeros(codes[0].size, dtype=np.int64)
    bits_used = 0
    for code in codes:
        code = code + 1
        bits = max(int(code.max()).bit_length(), 1) if code.size else 1
        if bits_used + bits > 62:
            # too many distinct values to pack: number the groups so far densely (a hash table, no sort) and go on
            packed = pd.factorize(packed)[0].astype(np.int64)
            bits_used = max(int(packed.max()).bit_length(), 1) if packed.size else 1
        packed = (packed << bits) | code
        bits_used += bits
    return packed


def _in_repeated_groups(group: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The rows (of ``rows``) whose group id occurs at least twice among them: the only ones with copies."""
    # a hash table, not np.unique's sort: 1.6 ms against 5.9 ms for a partition's 72,000 claims
    return rows[pd.Series(group[rows]).duplicated(keep=False).to_numpy()]


def _in_claim_order(
    group: np.ndarray, rows: np.ndarray, order_at: np.ndarray, claim_rank: np.ndarray, detection: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` sorted by group, then order time, claim id and detection date; and where each group starts."""
    # np.lexsort sorts by the last key first
    rows = rows[np.lexsort([detection[rows], claim_rank[rows], order_at[rows], group[rows]])]
    return rows, _group_starts([group[rows]])


def _exact_originals(
    group: np.ndarray, rows: np.ndarray, order_at: np.ndarray, claim_rank: np.ndarray, detection: np.ndarray
) -> np.ndarray:
    """Per row: the index of the first copy of its exact keys (``group``) when the row is a later copy, else -1.

    ``rows``: the rows whose exact keys repeat."""
    original = np.full(group.size, -1, dtype=np.int64)
    if rows.size:
        rows, starts = _in_claim_order(group, rows, order_at, claim_rank, detection)
        first_of_group = rows[np.nonzero(starts)[0]][np.cumsum(starts) - 1]
        later = ~starts
        original[rows[later]] = first_of_group[later]
    return original


# The largest similarity two claims of different procedures can have: 0.6 x 0 + 0.4 x closeness of at most 1.
OTHER_PROCEDURE_MAX_SIMILARITY = 0.4


def _near_originals(
    group: np.ndarray,
    rows: np.ndarray,
    procedure: np.ndarray,
    amount: np.ndarray,
    day: np.ndarray,
    order_at: np.ndarray,
    claim_rank: np.ndarray,
    detection: np.ndarray,
    settings: KernelSettings,
    every_pair: bool = False,
) -> np.ndarray:
    """Per row: the index of the earliest earlier close claim of the same customer and provider (``group``),
    else -1.

    ``rows``: the rows that may match, whose customer and provider occur together more than once.

    Comparing each claim with every earlier one of its customer and provider is quadratic in their claims (one
    customer billed a million times by one provider: half a million million comparisons). Instead, for each day
    the candidates may be on (the claim's own and the ``near_duplicate_days`` before it), the amounts close enough
    to the claim's form one run of that day's distinct amounts, sorted, of the same customer, provider and
    procedure (and, when a claim of another procedure can be close enough, of any procedure): a binary search with
    the kernel's own similarity finds the run, and a range minimum its earliest claim. O(n log n) per such day.
    ``every_pair`` compares every pair instead: the tests' reference, and the fallback when the keys cannot be
    packed into one integer."""
    original = np.full(group.size, -1, dtype=np.int64)
    if not rows.size:
        return original
    if not every_pair:
        # the rows in claim order (order time, claim rank, detection date; ties in row order, as the pairwise
        # comparison's sort): the earliest claim is the smallest position
        in_order = rows[np.lexsort([detection[rows], claim_rank[rows], order_at[rows]])]
        at, rank = order_at[in_order], claim_rank[in_order]
        # claims of the same order time and claim rank are not earlier than each other: one step of "earlier"
        step = np.cumsum(np.concatenate(([True], (at[1:] != at[:-1]) | (rank[1:] != rank[:-1]))))
        claims = (group[in_order], procedure[in_order], amount[in_order], day[in_order])
        earliest = _earliest_close_claims(*claims, step, settings)
        if earliest is not None:
            matched = np.nonzero(earliest >= 0)[0]
            original[in_order[matched]] = in_order[earliest[matched]]
            return original
    rows, starts = _in_claim_order(group, rows, order_at, claim_rank, detection)
    start_index = np.nonzero(starts)[0][np.cumsum(starts) - 1]
    position = np.arange(rows.size) - start_index
    found = np.full(rows.size, -1, dtype=np.int64)
    s_day, s_at, s_claim = day[rows], order_at[rows], claim_rank[rows]
    s_amount, s_procedure = amount[rows], procedure[rows]
    candidates = np.nonzero(position >= 1)[0]
    offset = 1
    # Compare each claim with the claim `offset` places before it in its group,
    # for growing offsets: a later (larger) offset that matches is an earlier claim.
    while candidates.size:
        this, other = candidates, candidates - offset
        earlier = (s_at[other] < s_at[this]) | ((s_at[other] == s_at[this]) & (s_claim[other] < s_claim[this]))
        in_days = (s_day[other] >= s_day[this] - settings.near_duplicate_days) & (s_day[other] <= s_day[this])
        close = (
            _similarity(s_procedure[other] == s_procedure[this], s_amount[this], s_amount[other])
            >= settings.near_duplicate_similarity
        )
        hit = earlier & in_days & close
        found[this[hit]] = other[hit]
        offset += 1
        candidates = candidates[position[candidates] >= offset]
    matched = found >= 0
    original[rows[matched]] = rows[found[matched]]
    return original


def _earliest_close_claims(
    group: np.ndarray, procedure: np.ndarray, amount: np.ndarray, day: np.ndarray, step: np.ndarray,
    settings: KernelSettings,
) -> np.ndarray | None:  # fmt: skip
    """For claims in claim order (``step``: their rank in it, equal for claims neither is earlier than), the
    position of each one's earliest earlier close claim, else -1 (``_near_originals`` by day and amount runs); None
    when the keys do not pack into one integer."""
    threshold, days_back = settings.near_duplicate_similarity, settings.near_duplicate_days
    size = step.size
    pair = pd.factorize(group)[0].astype(np.int64)
    codes = procedure.astype(np.int64)
    offset = (day - day.min() + days_back).astype(np.int64)  # >= 0 also `days_back` days earlier
    day_bits = max(int(offset.max()).bit_length(), 1)
    code_bits = max(int(codes.max()).bit_length(), 1)
    if max(int(pair.max()).bit_length(), 1) + code_bits + day_bits > 62:
        return None
    best = np.full(size, size, dtype=np.int64)
    searches = [((pair << code_bits | codes) << day_bits, True)]
    if threshold <= OTHER_PROCEDURE_MAX_SIMILARITY:
        # a claim of another procedure can be close enough: also the runs of every procedure
        searches.append((pair << day_bits, False))
    for key_base, same_procedure in searches:
        key = key_base | offset
        by_amount = np.lexsort([amount, key])  # stable: within an amount, in claim order
        distinct = _group_starts([key[by_amount], amount[by_amount]])
        first_of = np.nonzero(distinct)[0]
        run_key, run_amount, run_first = key[by_amount][first_of], amount[by_amount][first_of], by_amount[first_of]
        day_starts = np.nonzero(_group_starts([run_key]))[0]
        day_keys = run_key[day_starts]
        day_ends = np.append(day_starts[1:], run_key.size)
        # one table for every day searched: a range never leaves its day's runs
        earliest_of_runs = _MinimumTable(run_first, longest=int((day_ends - day_starts).max()))
        for back in range(days_back + 1):
            wanted = key - back
            block = np.minimum(np.searchsorted(day_keys, wanted), day_keys.size - 1)
            claims = np.nonzero(day_keys[block] == wanted)[0]
            if not claims.size:
                continue
            low, high = _close_run(run_amount, day_starts[block[claims]], day_ends[block[claims]],
                                   amount[claims], same_procedure, threshold)  # fmt: skip
            earliest = earliest_of_runs.of(low, high, empty=size)
            earlier = earliest < size
            earlier[earlier] = step[earliest[earlier]] < step[claims[earlier]]
            best[claims[earlier]] = np.minimum(best[claims[earlier]], earliest[earlier])
    return np.where(best < size, best, -1)


def _close_run(
    values: np.ndarray, start: np.ndarray, end: np.ndarray, amount: np.ndarray, same_procedure: bool, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """For each claim, the first and last index in ``values[start:end]`` (ascending, distinct) of the amounts close
    enough to its ``amount``; first > last when there are none. Closeness grows towards the claim's amount from
    either side (for amounts in whole cents), so the close amounts are one run, found by binary search."""
    flags = np.full(amount.size, same_procedure)

    def close(index: np.ndarray) -> np.ndarray:
        return _similarity(flags, amount, values[np.minimum(index, values.size - 1)]) >= threshold

    # the first index whose amount is close or not below the claim's
    low, high = start.copy(), end.copy()
    while np.any(low < high):
        middle = (low + high) // 2
        ahead = (low < high) & ((values[np.minimum(middle, values.size - 1)] >= amount) | close(middle))
        high = np.where(ahead, middle, high)
        low = np.where((low < high) & ~ahead, middle + 1, low)
    first = low
    # the first index whose amount is above the claim's and not close
    low, high = start.copy(), end.copy()
    while np.any(low < high):
        middle = (low + high) // 2
        within = (low < high) & ((values[np.minimum(middle, values.size - 1)] <= amount) | close(middle))
        low = np.where(within, middle + 1, low)
        high = np.where((low < high) & ~within, middle, high)
    return first, low - 1


class _MinimumTable:
    """A sparse table of ``values``: the minimum of any range of up to ``longest`` values in two lookups."""

    def __init__(self, values: np.ndarray, longest: int) -> None:
        # level k holds the minimum of values[i : i + 2**k] (the last 2**k - 1 entries are never read)
        self.levels = [values.astype(np.int64)]
        while 1 << len(self.levels) <= longest:
            previous, width = self.levels[-1], 1 << (len(self.levels) - 1)
            self.levels.append(np.minimum(previous, np.append(previous[width:], previous[-width:])))

    def of(self, low: np.ndarray, high: np.ndarray, empty: int) -> np.ndarray:
        """min(values[low[i] : high[i] + 1]) for each i, ``empty`` where the range is empty."""
        lengths = high - low + 1
        result = np.full(low.size, empty, dtype=np.int64)
        valid = np.nonzero(lengths > 0)[0]
        level = np.frexp(lengths[valid].astype(np.float64))[1].astype(np.int64) - 1  # floor(log2), exactly
        for size_level in np.unique(level):
            ranges = valid[level == size_level]
            table = self.levels[size_level]
            result[ranges] = np.minimum(table[low[ranges]], table[high[ranges] - (1 << int(size_level)) + 1])
        return result


def _claim_ids(claim_id: pa.Array, index: np.ndarray) -> pa.Array:
    return pc.take(claim_id, pa.array(index, mask=index < 0, type=pa.int64()))


def customer_feature_batch(table: pa.Table, settings: KernelSettings) -> pa.Table:
    """The kernel: ``table`` (whole customers) with the feature columns added and the SQL inputs dropped."""
    # Only the columns the kernel reads become contiguous; the others pass through as they came.
    read = ("customer_key", "provider_id", "procedure", "amount", CATEGORY_Z, NIGHT_INPUT, "service_date",
            "service_ts", ORDER_AT_INPUT, SUBMISSION_KEY_INPUT, "detection_date", "claim_id")  # fmt: skip
    column = {name: table.column(name).combine_chunks() for name in read}
    n = table.num_rows
    customer = _codes(column["customer_key"])
    provider = _codes(column["provider_id"])
    procedure = _codes(column["procedure"])
    amount = _floats(column["amount"])
    category_z = _floats(column[CATEGORY_Z])
    night = _ints(column[NIGHT_INPUT], pa.int8()).astype(np.float64)
    day, dated = _ints(column["service_date"], pa.int32()), _valid(column["service_date"])
    service_us, timed = _ints(column["service_ts"]), _valid(column["service_ts"])
    order_at = _ints(column[ORDER_AT_INPUT])
    detection = _ints(column["detection_date"], pa.int32())
    # SQL's unix_timestamp: whole seconds, rounded down
    epoch = np.floor_divide(service_us, MICROS_PER_SECOND)

    features: dict[str, np.ndarray] = {
        "__recent_claims": _recent_claims(customer, epoch, timed, settings.velocity_window_seconds)
    }
    day_features, has_day = _customer_days(customer, day, dated, amount, category_z, night, settings)
    features |= day_features
    has_amount = ~np.isnan(amount)
    keyed = (customer >= 0) & (provider >= 0) & (procedure >= 0) & dated
    # Only rows whose keys repeat can be copies: a cheap grouping finds them,
    # and only they are sorted by time and claim id.
    exact_group = _group_ids([customer, provider, procedure, day - day.min(initial=0), _codes(column["amount"])])
    exact_rows = _in_repeated_groups(exact_group, np.nonzero(keyed & has_amount)[0])
    pair_group = _group_ids([customer, provider])
    near_rows = _in_repeated_groups(pair_group, np.nonzero(keyed & has_amount & (np.nan_to_num(amount) > 0))[0])
    ranked_rows = np.union1d(exact_rows, near_rows)
    claim_rank = np.zeros(n, dtype=np.int64)
    claim_rank[ranked_rows] = _ranks(pc.take(column[SUBMISSION_KEY_INPUT], pa.array(ranked_rows, type=pa.int64())))
    exact = _exact_originals(exact_group, exact_rows, order_at, claim_rank, detection)
    near = _near_originals(pair_group, near_rows, procedure, amount, day, order_at, claim_rank, detection, settings)

    nulls = {
        "__recent_claims": ~(timed & (customer >= 0)),
        **{name: ~has_day for name in day_features},
    }
    names = [name for name in table.column_names if name not in KERNEL_INPUTS]
    arrays = [table.column(name) for name in names]
    for name, arrow_type, _ in FEATURES:
        if name == "__exact_original":
            arrays.append(_claim_ids(column["claim_id"], exact).cast(arrow_type))
        elif name == "__near_original":
            arrays.append(_claim_ids(column["claim_id"], near).cast(arrow_type))
        else:
            values = features[name]
            mask = nulls[name] | (np.isnan(values) if values.dtype.kind == "f" else False)
            arrays.append(pa.array(values, mask=mask).cast(arrow_type))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def submission_order_key() -> Column:
    """Text that sorts claims of one submission day in submission order: file, row in it, then service time and
    claim id (rows of the synthetic feed have no file row)."""
    return F.concat_ws(
        "\u0000",
        F.coalesce(F.col("source_file"), F.lit("")),
        F.lpad(F.coalesce(F.col("row_number"), F.lit(0)).cast("string"), 20, "0"),
        F.lpad(F.coalesce(F.unix_timestamp("service_ts"), F.lit(0)).cast("string"), 20, "0"),
        F.col("claim_id"),
    )


def kernel_inputs(config: DetectionConfig) -> list[Column]:
    """What the kernel reads that SQL computes: the night flag and the order time read the session time zone,
    which the kernel does not know; claims are ordered by submission (submitted date, then file and row order)."""
    return [
        F.coalesce(is_night(config), F.lit(False)).alias(NIGHT_INPUT),
        F.coalesce(F.col("submitted_date"), F.col("service_date")).cast("timestamp").alias(ORDER_AT_INPUT),
        submission_order_key().alias(SUBMISSION_KEY_INPUT),
    ]


def with_per_customer_features(
    claims: DataFrame, config: DetectionConfig, gather_max_rows: int = GATHER_MAX_ROWS, chunk_rows: int = CHUNK_ROWS
) -> DataFrame:
    """``claims`` (which needs ``category_z``) with every per-customer feature column added; no rows added.

    Up to ``gather_max_rows`` claims, each kernel gathers its partition whole; beyond, the claims come sorted by
    customer and each kernel computes ``chunk_rows`` claims of whole customers at a time (the same figures)."""
    if "__recent_claims" in claims.columns:
        return claims
    prepared = claims.select("*", *kernel_inputs(config))
    schema = ", ".join(
        [f"`{field.name}` {field.dataType.simpleString()}" for field in claims.schema.fields]
        + [f"`{name}` {ddl}" for name, _, ddl in FEATURES]
    )

    settings = KernelSettings.of(config)

    def kernel(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # A partition holds whole customers, in no order: the kernel needs all of it before it can start.
        gathered = [batch for batch in batches if batch.num_rows]
        if gathered:
            yield from customer_feature_batch(pa.Table.from_batches(gathered), settings).to_batches(OUTPUT_BATCH_ROWS)

    def chunked_kernel(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for chunk in customer_chunks(batches, chunk_rows):
            yield from customer_feature_batch(chunk, settings).to_batches(OUTPUT_BATCH_ROWS)

    # a count of the claims (from the table's statistics when they come from one) sizes the partitions
    rows = claims.count()
    if rows <= gather_max_rows:
        return prepared.repartition(kernel_partitions(rows), "customer_key").mapInArrow(kernel, schema)
    by_customer = Window.partitionBy("customer_key").orderBy("customer_key")
    ordered = prepared.withColumn(CUSTOMER_ORDER_INPUT, F.row_number().over(by_customer))
    return ordered.mapInArrow(chunked_kernel, schema)


def customer_chunks(batches: Iterable[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """Batches of claims grouped by ``customer_key`` (keys ascending, the NULL keys together, first or last as the
    engine sorts them) as tables of whole customers, each of about ``chunk_rows`` claims or more (a customer is
    never split). Refuses claims that are not so grouped: a customer seen again after its chunk would get features
    from part of its claims."""
    order = _CustomerOrder()
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    # where the last customer's claims start among the pending ones; found from each batch alone, so a customer
    # spread over many batches costs each batch once (not a scan of every waiting claim per batch)
    last_run_start = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        keys = batch.column("customer_key")
        continues = order.continues(keys)
        order.check(keys)
        changes = _last_change(keys)
        if changes is not None:
            last_run_start = pending_rows + changes
        elif not continues:
            last_run_start = pending_rows
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows < chunk_rows or last_run_start == 0:
            continue
        # the last customer may go on in the next batch: its claims wait for it
        table = pa.Table.from_batches(pending)
        yield table.slice(0, last_run_start)
        rest = table.slice(last_run_start)
        pending, pending_rows, last_run_start = rest.to_batches(), rest.num_rows, 0
    if pending_rows:
        yield pa.Table.from_batches(pending)


def _last_change(keys: pa.Array) -> int | None:
    """Where the run of ``keys``' last key starts, or None when the whole array is that one key (NULL is a key)."""
    last = keys[-1]
    same = pc.fill_null(pc.equal(keys, last), False) if last.is_valid else pc.is_null(keys)
    others = pc.indices_nonzero(pc.invert(same))
    return others[-1].as_py() + 1 if len(others) else None


class _CustomerOrder:
    """Whether the keys seen so far are grouped: the keys ascending, the NULLs in one run."""

    def __init__(self) -> None:
        self.last: pa.Scalar | None = None  # the last key that is not NULL
        self.last_key: pa.Scalar | None = None  # the last key, NULL or not
        self.null_run = "not yet"  # "open" while the NULLs go on, "closed" after them

    def continues(self, keys: pa.Array) -> bool:
        """Whether ``keys`` starts with the key the keys seen so far ended with (call before ``check``)."""
        if self.last_key is None:
            return False
        first = keys[0]
        if not first.is_valid or not self.last_key.is_valid:
            return not first.is_valid and not self.last_key.is_valid
        return first == self.last_key

    def check(self, keys: pa.Array) -> None:
        valid = keys.drop_null()
        grouped = not (len(valid) > 1 and pc.any(pc.less(valid[1:], valid[:-1])).as_py())
        if len(valid) and self.last is not None:
            grouped = grouped and not pc.less(valid[0], self.last).as_py()
        if keys.null_count:
            nulls = pc.indices_nonzero(keys.is_null())
            first, last = nulls[0].as_py(), nulls[-1].as_py()
            grouped = grouped and self.null_run != "closed" and last - first + 1 == keys.null_count
            grouped = grouped and (self.null_run != "open" or first == 0)
            self.null_run = "open" if last == len(keys) - 1 else "closed"
        elif self.null_run == "open":
            self.null_run = "closed"
        if len(valid):
            self.last = valid[-1]
        if len(keys):
            self.last_key = keys[-1]
        if not grouped:
            raise RuntimeError("per-customer pass: the claims did not come grouped by customer")


def kernel_partitions(rows: int) -> int:
    """How many partitions the per-customer pass splits ``rows`` claims into: enough that each core has one
    (a repartition that names no count keeps its input's partitions on Sail: one day's file went to one core),
    and more as the claims grow, so a partition stays a size one kernel call holds well."""
    return max(MIN_KERNEL_PARTITIONS, -(-rows // KERNEL_PARTITION_ROWS))
