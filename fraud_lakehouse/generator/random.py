"""Counter-based randomness: every random number is a hash of what it is for.

A draw is ``hash(seed, entity keys..., stream)``, so the value of a row never
depends on which Spark partition, process or date range produced it. This is
what makes the generator deterministic across engines and partitionings
(Spark's ``rand()`` is not: it differs between engines and restarts every
8,192 rows on Sail).

The mixer is the SplitMix64 finaliser, a bijection on 64-bit integers with
good avalanche; all arithmetic wraps modulo 2**64.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_TO_UNIT = 1.0 / float(1 << 53)
_S11 = np.uint64(11)


def mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser over a uint64 array (a bijection)."""
    z = values.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z ^= z >> _S30
        z *= _M1
        z ^= z >> _S27
        z *= _M2
        z ^= z >> _S31
    return z


def combine(key: np.ndarray | int, value: np.ndarray | int) -> np.ndarray:
    """Fold one more key component into a hash key."""
    key_array = np.asarray(key).astype(np.uint64)
    value_array = np.asarray(value).astype(np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        return mix64(key_array ^ (value_array + _GOLDEN + (key_array << np.uint64(6))))


def stream_key(seed: int, stream: int) -> np.uint64:
    """The root key of one named random stream for a seed."""
    return np.uint64(combine(np.uint64(seed & 0xFFFFFFFFFFFFFFFF), stream)[()])


def uniform(key: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1) from hash keys (53 random bits each)."""
    return (mix64(key) >> _S11).astype(np.float64) * _TO_UNIT


_TO_UNIT32 = 1.0 / float(1 << 32)
_LOW32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def uniform_pair(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent uniforms in [0, 1) from one hash (32 random bits each).

    Half the hashing of two `uniform` calls, for draws where 2**-32 resolution
    is plenty (choices, hours, offsets).
    """
    hashed = mix64(key)
    return (hashed >> _S32).astype(np.float64) * _TO_UNIT32, (hashed & _LOW32).astype(np.float64) * _TO_UNIT32


def uniform_for(root: np.uint64, *keys: np.ndarray | int) -> np.ndarray:
    """Uniform floats in [0, 1) for the entities identified by ``keys``."""
    key: np.ndarray | np.uint64 = root
    for part in keys:
        key = combine(key, part)
    return uniform(np.asarray(key))


def normal_from(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Standard normal deviates from two uniforms (Box-Muller)."""
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def integers_below(u: np.ndarray, upper: np.ndarray | int) -> np.ndarray:
    """Integers uniform in [0, upper) from uniforms."""
    return np.minimum((u * upper).astype(np.int64), np.asarray(upper) - 1)


def choose_by_cumulative(u: np.ndarray, cumulative: np.ndarray) -> np.ndarray:
    """Index drawn by cumulative weights; ``cumulative`` is [n, k] (one row per draw) or [k]."""
    if cumulative.ndim == 1:
        return np.minimum(np.searchsorted(cumulative, u, side="right"), cumulative.shape[0] - 1)
    return np.minimum((cumulative <= u[:, None]).sum(axis=1), cumulative.shape[1] - 1)


def poisson(root: np.uint64, key: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson counts by inversion of one uniform per key (lam up to a few dozen)."""
    u = uniform_for(root, key)
    counts = np.zeros(lam.shape, dtype=np.int64)
    probability = np.exp(-lam)
    cumulative = probability.copy()
    k = 0
    active = u >= cumulative
    # Inversion needs about lam + 6 sqrt(lam) steps; stop when every draw is placed.
    while active.any():
        k += 1
        probability = probability * lam / k
        cumulative = cumulative + probability
        counts[active] = k
        active &= u >= cumulative
        if k > 1000:  # only reachable through floating point saturation
            break
    return counts


def gamma(root: np.uint64, key: np.ndarray, shape: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Gamma deviates by Marsaglia-Tsang, every attempt drawn from hashed counters.

    Shapes below 1 use the boost Gamma(a) = Gamma(a + 1) * U ** (1 / a).
    """
    boosted = shape < 1.0
    a = np.where(boosted, shape + 1.0, shape)
    d = a - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    result = np.empty(shape.shape)
    pending = np.arange(shape.shape[0])
    attempt = 0
    while pending.size:
        k = combine(key[pending], attempt)
        x = normal_from(uniform_for(root, k, 1), uniform_for(root, k, 2))
        v = (1.0 + c[pending] * x) ** 3
        u = uniform_for(root, k, 3)
        with np.errstate(invalid="ignore", divide="ignore"):
            accepted = (v > 0) & (
                np.log(np.maximum(u, 1e-300))
                < 0.5 * x * x + d[pending] - d[pending] * v + d[pending] * np.log(np.where(v > 0, v, 1.0))
            )
        result[pending[accepted]] = d[pending][accepted] * v[accepted]
        pending = pending[~accepted]
        attempt += 1
    boost_u = uniform_for(root, key, 4)
    with np.errstate(divide="ignore"):
        boost = np.where(boosted, boost_u ** (1.0 / shape), 1.0)
    return result * boost * scale


_PERMUTATION_BITS = 24
_PERMUTATION_MASK = (1 << _PERMUTATION_BITS) - 1


def permute_below(values: np.ndarray, domain: int, root: np.uint64) -> np.ndarray:
    """A keyed pseudo-random permutation of [0, domain), domain <= 2**24.

    Rounds of odd multiplication, xor-shift and keyed addition modulo 2**24
    (each a bijection), with cycle walking to stay below ``domain``.
    """
    if domain > 1 << _PERMUTATION_BITS:
        raise ValueError(f"domain {domain} is larger than 2**{_PERMUTATION_BITS}")
    round_keys = [int(combine(root, r)[()]) & _PERMUTATION_MASK for r in range(4)]

    def step(x: np.ndarray) -> np.ndarray:
        for key in round_keys:
            x = (x * 0x9E3779 | 0) & _PERMUTATION_MASK  # odd multiplier
            x ^= x >> 12
            x = (x + key) & _PERMUTATION_MASK
        return x

    result = step(np.asarray(values, dtype=np.int64))
    outside = result >= domain
    while outside.any():
        result[outside] = step(result[outside])
        outside = result >= domain
    return result
