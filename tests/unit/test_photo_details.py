"""Reading GPS and camera from EXIF values, and folding place and camera names
for the filters: pure functions, no file, no index."""

from __future__ import annotations

import math

import pytest
from PIL.TiffImagePlugin import IFDRational
from support.gps_photos import dms, gps_ifd

from picscribe.indexer.photo_details import camera_name, gps_coordinates
from picscribe.indexer.places import distance_km, reach_km
from picscribe.store import PhotoDetails, Place
from picscribe.store._photo_details import camera_key, fold, place_key, place_needle


def test_gps_rationals_become_signed_degrees() -> None:
    lat, lon, problem = gps_coordinates(gps_ifd(38.7223, -9.1393))
    assert problem is None
    assert lat == pytest.approx(38.7223, abs=1e-5) and lon == pytest.approx(-9.1393, abs=1e-5)
    lat, lon, _ = gps_coordinates(gps_ifd(-33.8568, 151.2153))
    assert lat == pytest.approx(-33.8568, abs=1e-5) and lon == pytest.approx(151.2153, abs=1e-5)


def test_a_photo_without_gps_has_no_coordinates_and_no_problem() -> None:
    assert gps_coordinates({}) == (None, None, None)
    assert gps_coordinates({0: (2, 3, 0, 0)}) == (None, None, None)  # only the GPS version tag


@pytest.mark.parametrize(
    ("gps", "why"),
    [
        ({1: "N", 2: (123.0, 0.0, 0.0), 3: "W", 4: dms(9.1)}, "latitude 123 is beyond ±90"),
        ({1: "N", 2: dms(38.7), 3: "E", 4: (181.0, 0.0, 0.0)}, "longitude 181 is beyond ±180"),
        ({1: "N", 2: (IFDRational(38, 0), IFDRational(1, 0), 0.0), 3: "W", 4: dms(9.1)}, "malformed number"),
        ({1: "N", 2: b"garbage", 3: "W", 4: dms(9.1)}, "not three numbers"),
        ({1: "N", 2: (38.0, 43.0), 3: "W", 4: dms(9.1)}, "not three numbers"),
        ({1: "Q", 2: dms(38.7), 3: "W", 4: dms(9.1)}, "reference is 'Q'"),
        ({1: "N", 2: dms(38.7)}, "longitude is missing"),
        ({1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}, "0, 0"),
        ({1: "N", 2: (38.0, -5.0, 0.0), 3: "W", 4: dms(9.1)}, "negative"),
    ],
)
def test_unusable_gps_gives_a_reason_instead_of_a_place(gps: dict[int, object], why: str) -> None:
    lat, lon, problem = gps_coordinates(gps)
    assert (lat, lon) == (None, None)
    assert problem is not None and why in problem


def test_camera_is_named_as_people_say_it() -> None:
    assert camera_name("NIKON CORPORATION", "NIKON D750") == "Nikon D750"
    assert camera_name("Canon", "Canon EOS R5") == "Canon EOS R5"
    assert camera_name("Apple", "iPhone 12") == "Apple iPhone 12"
    assert camera_name(None, None) is None


def test_folding_ignores_case_accents_and_spacing() -> None:
    assert fold("  São   PAULO ") == "sao paulo"
    assert fold("ÉVORA") == fold("évora") == "evora"


def test_place_key_matches_whole_names_only() -> None:
    key = place_key(Place("Lisbon", "Lisbon", "Portugal", "PT"))
    for name in ("Lisbon", "LISBON", "portugal", "pt", " Portugal "):
        assert place_needle(name) in key
    for name in ("Lisb", "ortugal", "Lisbon Portugal", "p"):
        assert place_needle(name) not in key
    assert place_key(None) == ""


def test_camera_key_holds_make_model_and_the_spoken_name() -> None:
    key = camera_key(PhotoDetails("h", camera_make="NIKON CORPORATION", camera_model="D750", camera="Nikon D750"))
    assert "nikon d750" in key and "corporation" in key


def test_place_words_leave_out_the_country_code() -> None:
    # "IN", "US", "IT" are English words: a query "photos taken in Spain" must not hit India.
    assert Place("Mumbai", "Maharashtra", "India", "IN").words == "Mumbai Maharashtra India"
    assert Place("Lisbon", "Lisbon", "Portugal", "PT").words == "Lisbon Portugal"
    assert Place("Lisbon", "Lisbon", "Portugal", "PT").label == "Lisbon, Portugal"


def test_distance_and_reach() -> None:
    assert distance_km(38.7223, -9.1393, 41.1496, -8.6110) == pytest.approx(274, abs=3)  # Lisbon-Porto
    assert distance_km(0, 0, 0, 0) == 0
    assert reach_km(0) == 2.0
    assert math.isclose(reach_km(8_000_000), 0.006 * math.sqrt(8_000_000))
