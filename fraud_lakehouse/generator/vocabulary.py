"""Faker's en_US vocabularies and number formats, as arrays for vectorized draws.

Calling Faker once per field per row would cap the generator at a few
thousand customers per second; instead the same word lists, frequency
weights and number rules that Faker's en_US providers use are drawn with the
generator's hashed uniforms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from faker.providers.address.en_US import Provider as AddressProvider
from faker.providers.company.en_US import Provider as CompanyProvider
from faker.providers.credit_card import Provider as CreditCardProvider
from faker.providers.job.en_US import Provider as JobProvider
from faker.providers.person.en_US import Provider as PersonProvider

# Faker's card types, without its aliases 'visa' (= visa16) and 'jcb' (= jcb16).
CARD_TYPES = ("maestro", "mastercard", "visa16", "visa13", "visa19", "amex", "discover", "diners", "jcb15", "jcb16")


@dataclass(frozen=True)
class WeightedWords:
    words: np.ndarray  # object (str)
    cumulative: np.ndarray  # float, last = 1


@dataclass(frozen=True)
class CardPrefix:
    prefix: str  # fixed digits
    body_digits: int  # random digits after the prefix, before the check digit


@dataclass(frozen=True)
class Vocabulary:
    first_male: WeightedWords
    first_female: WeightedWords
    last: WeightedWords
    street_suffixes: np.ndarray
    jobs: np.ndarray
    company_suffixes: np.ndarray
    card_prefixes: tuple[CardPrefix, ...]
    state_zip_ranges: dict[str, tuple[int, int]]


def _weighted(mapping) -> WeightedWords:
    words = np.array(list(mapping.keys()), dtype=object)
    if hasattr(mapping, "values"):
        weights = np.array(list(mapping.values()), dtype=float)
    else:
        weights = np.ones(len(words))
    cumulative = np.cumsum(weights) / weights.sum()
    cumulative[-1] = 1.0
    return WeightedWords(words, cumulative)


def _card_prefixes() -> tuple[CardPrefix, ...]:
    prefixes = []
    for name in CARD_TYPES:
        card = CreditCardProvider.credit_card_types[name]
        for prefix in card.prefixes:
            fixed = prefix.rstrip("#%")
            # Trailing "#" (any digit) and "%" (1-9) in Faker's prefixes are random: part of the body.
            prefixes.append(CardPrefix(fixed, card.length - len(fixed) - 1))
    return tuple(prefixes)


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    return Vocabulary(
        first_male=_weighted(PersonProvider.first_names_male),
        first_female=_weighted(PersonProvider.first_names_female),
        last=_weighted(PersonProvider.last_names),
        street_suffixes=np.array(AddressProvider.street_suffixes, dtype=object),
        jobs=np.array(JobProvider.jobs, dtype=object),
        company_suffixes=np.array(CompanyProvider.company_suffixes, dtype=object),
        card_prefixes=_card_prefixes(),
        state_zip_ranges=dict(AddressProvider.states_postcode),
    )
