"""Reading a creator's time zone from what they type, and naming it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.timezones import get_zone, parse_zone, search_zones, zone_label


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("  america/new_york ", "America/New_York"),
        ("New York", "America/New_York"),
        ("sao paulo", "America/Sao_Paulo"),
        ("São Paulo", "America/Sao_Paulo"),
        ("Zürich", "Europe/Zurich"),
        ("EST", "America/New_York"),  # the region's zone: summer time follows
        ("pdt", "America/Los_Angeles"),
        ("CET", "Europe/Paris"),
        ("UTC", "UTC"),
        ("gmt", "UTC"),
        ("UTC-5", "UTC-05:00"),
        ("+0530", "UTC+05:30"),
        ("GMT+5:45", "UTC+05:45"),
        ("utc+0", "UTC"),
        ("UTC+14", "UTC+14:00"),
        # big cities with no zone of their own ("nyc" was "not a time zone")
        ("NYC", "America/New_York"),
        ("Miami", "America/New_York"),
        ("LA", "America/Los_Angeles"),
        ("Las Vegas", "America/Los_Angeles"),
        ("Dallas", "America/Chicago"),
        ("Manchester", "Europe/London"),
        ("Mumbai", "Asia/Kolkata"),
    ],
)
def test_what_people_type(typed: str, stored: str) -> None:
    assert parse_zone(typed) == stored


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("Berln", "Europe/Berlin"),
        ("Amsterdm", "Europe/Amsterdam"),
        ("UTC+15", "UTC−12 to UTC+14"),
        ("UTC+14:30", "UTC−12 to UTC+14"),
        ("my place", "Try: "),
        ("", "Try: "),
    ],
)
def test_what_is_not_a_zone_gets_a_hint(typed: str, hint: str) -> None:
    with pytest.raises(ValueError, match=hint.replace("+", r"\+")):
        parse_zone(typed)


def test_zones_follow_summer_time_and_offsets_do_not() -> None:
    winter, summer = datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC)
    new_york = get_zone(parse_zone("EST"))
    assert winter.astimezone(new_york).hour == 7 and summer.astimezone(new_york).hour == 8
    fixed = get_zone(parse_zone("UTC-5"))
    assert winter.astimezone(fixed).hour == summer.astimezone(fixed).hour == 7
    assert get_zone("UTC+05:30").utcoffset(None) == timedelta(hours=5, minutes=30)


def test_unset_and_unknown_names_read_as_utc() -> None:
    assert get_zone("") is UTC and zone_label("") == "UTC"
    assert get_zone("Mars/Olympus_Mons") is UTC and zone_label("Mars/Olympus_Mons") == "UTC"
    for edited in ("UTCxx:yy:z", "UTC+99:00", "../../etc/passwd", "UTC+05:3"):  # hand edits
        assert get_zone(edited) is UTC
    assert zone_label("Europe/Berlin") == "Europe/Berlin"
    assert zone_label("UTC-05:00") == "UTC-05:00"


def test_search_offers_zones_for_what_is_being_typed() -> None:
    assert search_zones("")[:4] == [
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Los_Angeles",
    ]
    assert search_zones("berl") == ["Europe/Berlin"]
    assert search_zones("Bogotá") == ["America/Bogota"]
    assert search_zones("york") == ["America/New_York"]  # a city's later word
    assert search_zones("los_ang") == ["America/Los_Angeles"]
    assert search_zones("EST") == ["America/New_York"]
    assert search_zones("europe/", limit=3) == ["Europe/Amsterdam", "Europe/Berlin", "Europe/Kyiv"]
    assert search_zones("zzzz") == []
    assert all(parse_zone(key) == key for key in search_zones("america"))
