"""CSV imports: value parsing, encodings, bad files and bad rows, idempotency, fans and offers.

Files go through the real importer into a real database (SQLite; the idempotency and fan-list
tests run on PostgreSQL too, through the ``store`` fixture).
"""

from __future__ import annotations

import codecs
import io
import itertools
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.errors import NotFound
from core.models import Identity, Profile
from core.ports import FanPatch, FanQuery
from core.rules import earnings_platform
from core.services.fans import FansService
from core.services.imports import (
    CsvImporter,
    ImportProgress,
    ImportReport,
    breakdown_columns,
    chunks_of,
    decide_date_order,
    detect_kind,
    earned_status,
    import_file,
    map_columns,
    name_hints,
    parse_datetime,
    parse_money,
    platform_in_text,
    sniff_encoding,
    split_description,
    wall_timestamp,
)
from storage.analytics import find_accounts
from storage.db import create_engine
from storage.repositories import SqlStore
from storage.tables import FanRow, OfferRow, TransactionRow
from tests.fakes.clock import FakeClock

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "csv"
FAR = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
async def sqlite_store(migrated_sqlite_url: str, clock: FakeClock) -> AsyncIterator[SqlStore]:
    engine = create_engine(migrated_sqlite_url)
    try:
        yield SqlStore(engine, clock)
    finally:
        await engine.dispose()


async def account(store: SqlStore, name: str = "alice") -> int:
    ident = Identity(platform="console", external_id=name, username=name)
    return (await store.accounts.resolve(ident)).id


async def run(
    store: SqlStore, clock: FakeClock, account_id: int, name: str, data: bytes, **kw: object
) -> ImportReport:
    importer = CsvImporter(store, clock, **kw)  # type: ignore[arg-type]
    return await importer.import_stream(account_id, name, chunks_of(data, 7), total_bytes=len(data))


async def transactions(store: SqlStore, account_id: int) -> list[TransactionRow]:
    async with store.sessions() as session:
        rows = await session.scalars(
            select(TransactionRow)
            .where(TransactionRow.account_id == account_id)
            .order_by(TransactionRow.occurred_at, TransactionRow.id)
        )
        return list(rows)


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("raw", "comma_decimal", "expected"),
    [
        ("12.50", False, (Decimal("12.50"), None)),
        ("$1,234.56", False, (Decimal("1234.56"), "USD")),
        ("1.234,56 €", False, (Decimal("1234.56"), "EUR")),
        ("€12,50", False, (Decimal("12.50"), "EUR")),
        ("USD 12.50", False, (Decimal("12.50"), "USD")),
        ("12 gbp", False, (Decimal("12"), "GBP")),
        ("(4.99)", False, (Decimal("-4.99"), None)),
        ("-$3", False, (Decimal("-3"), "USD")),
        ("1,234", False, (Decimal("1234"), None)),
        ("1,234", True, (Decimal("1.234"), None)),
        ("1 234,50", False, (Decimal("1234.50"), None)),
        ("R$ 10,00", False, (Decimal("10.00"), "BRL")),
    ],
)
def test_parse_money(raw: str, comma_decimal: bool, expected: tuple[Decimal, str | None]) -> None:
    assert parse_money(raw, comma_decimal) == expected


@pytest.mark.parametrize("raw", ["abc", "", "1e5", "12.5.6,7", "$", "US DOLLARS", "1,2,3"])
def test_parse_money_refuses_non_numbers(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_money(raw)


@pytest.mark.parametrize(
    ("raw", "order", "expected"),
    [
        ("2026-11-03", "mdy", datetime(2026, 11, 3, tzinfo=UTC)),
        ("2026-11-03 14:22:11", "mdy", datetime(2026, 11, 3, 14, 22, 11, tzinfo=UTC)),
        ("2026-11-03T14:22:00Z", "mdy", datetime(2026, 11, 3, 14, 22, tzinfo=UTC)),
        ("2026-11-03T14:22:00+02:00", "mdy", datetime(2026, 11, 3, 12, 22, tzinfo=UTC)),
        ("11/03/2026", "mdy", datetime(2026, 11, 3, tzinfo=UTC)),
        ("11/03/2026", "dmy", datetime(2026, 3, 11, tzinfo=UTC)),
        ("03.11.2026 18:30", "dmy", datetime(2026, 11, 3, 18, 30, tzinfo=UTC)),
        ("Nov 3, 2026", "mdy", datetime(2026, 11, 3, tzinfo=UTC)),
        ("3 Nov 2026 2:22 PM", "mdy", datetime(2026, 11, 3, 14, 22, tzinfo=UTC)),
        ("November 3, 2026 at 9:05 pm", "dmy", datetime(2026, 11, 3, 21, 5, tzinfo=UTC)),
        ("Mon, Nov 3, 2026 14:22", "mdy", datetime(2026, 11, 3, 14, 22, tzinfo=UTC)),
        ("11/03/26 2:22 PM UTC+2", "mdy", datetime(2026, 11, 3, 12, 22, tzinfo=UTC)),
        ("1762179731", "mdy", datetime(2025, 11, 3, 14, 22, 11, tzinfo=UTC)),
        ("2026/11/03 10:00", "dmy", datetime(2026, 11, 3, 10, tzinfo=UTC)),
    ],
)
def test_parse_datetime(raw: str, order: str, expected: datetime) -> None:
    assert parse_datetime(raw, order) == expected


def test_parse_datetime_reads_times_without_an_offset_on_the_accounts_clock() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    naive = parse_datetime("11/03/2026 9:05 PM", "mdy", berlin)
    assert naive == datetime(2026, 11, 3, 21, 5, tzinfo=berlin)
    assert naive.astimezone(UTC) == datetime(2026, 11, 3, 20, 5, tzinfo=UTC)
    july = parse_datetime("2026-07-03 21:05", "mdy", berlin)  # summer time: UTC+2
    assert july.astimezone(UTC) == datetime(2026, 7, 3, 19, 5, tzinfo=UTC)
    # A written offset or a timestamp is an instant whatever the account's zone.
    assert parse_datetime("2026-11-03T21:05:00Z", "mdy", berlin).tzinfo is UTC
    assert parse_datetime("1762179731", "mdy", berlin) == datetime(
        2025, 11, 3, 14, 22, 11, tzinfo=UTC
    )
    # Row keys are made of the time as written: the same in every zone.
    for raw in ("11/03/2026 9:05 PM", "2026-11-03T21:05:00+01:00", "Nov 3, 2026"):
        assert wall_timestamp(parse_datetime(raw, "mdy", berlin)) == wall_timestamp(
            parse_datetime(raw, "mdy")
        )


@pytest.mark.postgres
async def test_on_postgresql_stored_keys_are_looked_up_in_one_pass_whatever_the_statistics(
    migrated_postgres_url: str, clock: FakeClock
) -> None:
    # An IN list of bound keys was checked key by key against every row of the account when
    # the planner's statistics said it had few (a fresh table, a new account): 2,000
    # comparisons a row, for every batch of a big import (108,000 rows took 140 s).
    from storage.analytics import _keyed

    engine = create_engine(migrated_postgres_url)
    try:
        store = SqlStore(engine, clock)
        acct = await account(store)
        rows = "".join(
            f"2026-01-01 00:{i // 60 % 60:02d}:{i % 60:02d},{i + 1},@f{i}\n" for i in range(3000)
        )
        assert (
            await run(store, clock, acct, "e.csv", b"date,amount,fan\n" + rows.encode())
        ).added == 3000
        t = TransactionRow.__table__
        keys = [r.row_key for r in (await transactions(store, acct))[:2000]]
        lookup = _keyed(True, t, t.c.account_id, t.c.row_key, acct, keys)
        async with engine.connect() as conn:
            compiled = lookup.compile(dialect=conn.dialect)
            params = tuple(compiled.params[name] for name in compiled.positiontup or ())
            plan = await conn.exec_driver_sql(f"EXPLAIN ANALYZE {compiled}", params)
            shown = "\n".join(line for (line,) in plan)
            assert len((await conn.execute(lookup)).all()) == 2000
        # One pass over the account's rows (a hash join) or a probe per key: never a scan of
        # the key list for every row.
        assert "ANY (" not in shown and "Rows Removed by Filter" not in shown, shown
    finally:
        await engine.dispose()


async def test_an_export_written_at_an_offset_suggests_setting_the_time_zone(
    store: SqlStore, clock: FakeClock
) -> None:
    alice, bob = await account(store, "alice"), await account(store, "bob")
    new_york = b"date,amount\n2026-11-20T22:30:00-05:00,10\n11/21/2026 9:05 PM UTC-5,5\n"
    note = "Times in this file are written at UTC-05:00. If that is your clock, /timezone"
    assert note in (await run(store, clock, alice, "e.csv", new_york)).text()
    utc = b"date,amount\n2026-11-20T22:30:00Z,10\n2026-11-21 21:05,5\n"
    assert "written at" not in (await run(store, clock, bob, "e.csv", utc)).text()
    await store.profiles.save(alice, Profile(timezone="America/New_York"))
    assert "written at" not in (await run(store, clock, alice, "e.csv", new_york)).text()


async def test_a_time_of_day_in_a_column_of_its_own(store: SqlStore, clock: FakeClock) -> None:
    # "Date, Time, Amount": the time was ignored, every payment at midnight, no best hour.
    acct = await account(store)
    data = (
        b"Date,Time,Amount,Fan\n"
        b"2026-11-20,21:30,10.00,@a\n"
        b"11/21/2026,9:05 PM,5.00,@b\n"
        b"2026-11-22 08:15,23:59,7.00,@c\n"  # the date cell has its time: the column is not used
        b"2026-11-23,,4.00,@d\n"  # no time: the date alone
    )
    report = await run(store, clock, acct, "earnings.csv", data)
    assert (report.kind, report.added, report.bad) == ("earnings", 4, [])
    got = [(r.day.day, r.hour, r.occurred_at.minute) for r in await transactions(store, acct)]
    assert got == [(20, 21, 30), (21, 21, 5), (22, 8, 15), (23, 0, 0)]
    # A file whose only time column holds the whole moment still reads it as the date.
    other = await account(store, "bob")
    whole = b"Time,Amount\n2026-11-20 21:30,10.00\n"
    assert (await run(store, clock, other, "earnings.csv", whole)).added == 1
    assert [r.hour for r in await transactions(store, other)] == [21]
    # Offers too.
    offers = b"Date,Time,Price,Sent,Bought\n2026-11-20,20:00,9.99,100,7\n"
    assert (await run(store, clock, acct, "ppv_offers.csv", offers)).added == 1
    async with store.sessions() as session:
        offered = await session.scalar(select(OfferRow.offered_at))
    assert offered is not None and offered.hour == 20


async def test_a_new_time_zone_moves_reimported_rows_of_that_account_only(
    store: SqlStore, clock: FakeClock
) -> None:
    alice, bob = await account(store, "alice"), await account(store, "bob")
    data = b"Date,Amount,Fan\n2026-11-03 21:05,5,@a\n2026-11-03T23:30:00Z,7,@b\n2026-11-04,9,@c\n"
    for acct in (alice, bob):
        assert (await run(store, clock, acct, "e.csv", data)).added == 3
    placed = [(r.day, r.hour) for r in await transactions(store, bob)]
    assert placed == [(date(2026, 11, 3), 21), (date(2026, 11, 3), 23), (date(2026, 11, 4), 0)]

    await store.profiles.save(alice, Profile(timezone="Europe/Berlin"))
    again = await run(store, clock, alice, "e.csv", data, batch_size=2)
    assert (again.added, again.updated, again.unchanged) == (0, 3, 0)
    assert "0 new transactions added, 3 moved to your time zone, 0 already" in again.text()
    rows = await transactions(store, alice)
    assert [(r.day, r.hour) for r in rows] == [
        (date(2026, 11, 3), 21),  # as written, now read as Berlin's 21:05 (20:05 UTC)
        (date(2026, 11, 4), 0),  # the date-only row: Berlin's midnight
        (date(2026, 11, 4), 0),  # 23:30 UTC is 00:30 in Berlin
    ]
    assert [r.occurred_at.astimezone(UTC).hour for r in rows] == [20, 23, 23]
    # Bob's rows (same keys: the same file) did not move; a third import moves nothing.
    assert [(r.day, r.hour) for r in await transactions(store, bob)] == placed
    third = await run(store, clock, alice, "e.csv", data)
    assert (third.added, third.updated, third.unchanged) == (0, 0, 3)


def test_parse_datetime_explains_failures() -> None:
    with pytest.raises(ValueError, match="MM/DD"):
        parse_datetime("13/02/2026", "mdy")
    with pytest.raises(ValueError, match="not a date"):
        parse_datetime("soon", "mdy")


def test_date_order_comes_from_the_files_own_dates() -> None:
    assert decide_date_order(["01/02/2026", "13/02/2026"]) == ("dmy", False)
    assert decide_date_order(["01/02/2026", "02/13/2026"]) == ("mdy", False)
    assert decide_date_order(["01.02.2026"]) == ("dmy", False)
    assert decide_date_order(["01/02/2026"]) == ("mdy", True)  # ambiguous: month first
    assert decide_date_order(["2026-02-01"]) == ("mdy", False)  # nothing ambiguous


def test_kind_detection_by_header_aliases_and_name() -> None:
    kind, cols = detect_kind(["Date", "Net amount (EUR)", "Type", "Fan"], "export.csv") or ("", {})
    assert kind == "earnings" and cols == {"date": 0, "amount": 1, "category": 2, "fan": 3}
    found = detect_kind(["Username", "Name", "Tier", "Total spent", "Last active"], "x.csv")
    assert found is not None and found[0] == "fans"
    found = detect_kind(["date", "price", "sent", "bought"], "x.csv")
    assert found is not None and found[0] == "offers"
    assert detect_kind(["foo", "bar"], "x.csv") is None


def test_encoding_sniffing() -> None:
    assert sniff_encoding(codecs.BOM_UTF8 + b"a,b\n") == ("utf-8-sig", None)
    assert sniff_encoding("a,b\n".encode("utf-16"))[0] == "utf-16"
    assert sniff_encoding("date,amount\n1,2\n".encode("utf-16-le"))[0] == "utf-16-le"
    assert sniff_encoding("Zoë,1\n".encode())[0] == "utf-8"
    codec, note = sniff_encoding("Zoë,1\n".encode("cp1252"))
    assert codec == "cp1252" and note is not None and "Windows-1252" in note


# ---------------------------------------------------------------- bad files


def xlsx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (xlsx_bytes(), "not a CSV file or an Excel workbook (.xlsx). If it is a spreadsheet, save"),
        (b"\xd0\xcf\x11\xe0" + bytes(600), "old Excel (.xls)"),
        (b"%PDF-1.7\n...", "PDF"),
        (bytes(range(256)) * 8, "binary"),
        (b"foo,bar\n1,2\n", "couldn't recognise"),
    ],
)
async def test_files_that_cannot_be_imported_say_why(
    sqlite_store: SqlStore, clock: FakeClock, data: bytes, message: str
) -> None:
    acct = await account(sqlite_store)
    report = await run(sqlite_store, clock, acct, "upload.csv", data)
    assert report.error is not None and message in report.error
    assert "was not imported" in report.text()
    assert await transactions(sqlite_store, acct) == []


def workbook(*sheets: tuple[str, list[list[object]]], active: int = 0) -> bytes:
    """An .xlsx written by openpyxl (as Excel would save one): sheets of rows of cells."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.active = active
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_an_excel_workbook_is_imported_as_its_csv(store: SqlStore, clock: FakeClock) -> None:
    # A creator opened her CSV export in Excel and saved it: the bot answered "save it as CSV".
    acct = await account(store)
    rows: list[list[object]] = [
        ["Earnings statement, November"],  # a title line above the header
        ["Date", "Amount", "Currency", "Type", "Fan"],
        [datetime(2026, 11, 20, 21, 30), 40.0, "USD", "Tip", "@leo"],
        [date(2026, 11, 21), 9.99, "USD", "Subscription", "@ann"],
        [datetime(2026, 11, 22), "12,50", "EUR", "PPV", "@ann"],
        [None, None, None, None, None],
        ["2026-11-23 08:00", 1500, None, "Message", "@max"],
    ]
    other = [["Notes"], ["not the sheet it was saved at"]]
    data = workbook(("Summary", other), ("Earnings", rows), active=1)
    report = await run(store, clock, acct, "statement.xlsx", data)
    assert report.error is None and (report.kind, report.rows, report.added) == (
        "earnings",
        4,
        4,
    )
    assert "Read from the Excel workbook" in report.text()
    got = sorted(
        (t.occurred_at, t.amount_cents, t.currency, t.fan_handle)
        for t in await transactions(store, acct)
    )
    assert got == [
        (datetime(2026, 11, 20, 21, 30, tzinfo=UTC), 4000, "USD", "leo"),
        (datetime(2026, 11, 21, tzinfo=UTC), 999, "USD", "ann"),
        (datetime(2026, 11, 22, tzinfo=UTC), 1250, "EUR", "ann"),
        (datetime(2026, 11, 23, 8, tzinfo=UTC), 150000, "USD", "max"),
    ]
    again = await run(store, clock, acct, "statement.xlsx", data)  # the same workbook: nothing new
    assert (again.added, again.unchanged) == (0, 4)
    # The same rows as a CSV file are the same transactions.
    as_csv = "\n".join(
        ",".join(str(c) for c in r)
        for r in [
            ["Date", "Amount", "Currency", "Type", "Fan"],
            ["2026-11-20 21:30:00", "40", "USD", "Tip", "@leo"],
            ["2026-11-21", "9.99", "USD", "Subscription", "@ann"],
        ]
    ).encode()
    assert (await run(store, clock, acct, "statement.csv", as_csv)).added == 0


async def test_a_workbook_that_unpacks_too_big_is_not_read(
    sqlite_store: SqlStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.services import imports

    acct = await account(sqlite_store)
    data = workbook(("Sheet1", [["Date", "Amount"], *[["2026-11-20", n] for n in range(2000)]]))
    monkeypatch.setattr(imports, "XLSX_MAX_UNPACKED", 10_000)  # what a zip bomb would exceed
    report = await run(sqlite_store, clock, acct, "big.xlsx", data)
    assert report.error is not None and "more than I read" in report.error
    assert await transactions(sqlite_store, acct) == []


async def test_missing_columns_are_named(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await account(sqlite_store)
    data = b"Date,Fan,Type\n2026-11-01,@mia,tip\n"
    report = await run(sqlite_store, clock, acct, "earnings.csv", data)
    assert report.error is not None
    assert "missing column: amount" in report.error
    assert "Date, Fan, Type" in report.error  # what the file has


async def test_header_only_file(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await account(sqlite_store)
    data = (FIXTURES / "header_only.csv").read_bytes()
    report = await run(sqlite_store, clock, acct, "header_only.csv", data)
    assert report.ok and report.kind == "earnings" and report.rows == 0 and report.added == 0
    assert "header but no rows" in report.text()


async def test_garbage_rows_are_reported_by_line_and_good_rows_kept(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(sqlite_store)
    data = (FIXTURES / "earnings_bad_rows.csv").read_bytes()
    report = await run(sqlite_store, clock, acct, "earnings_bad_rows.csv", data)
    assert report.ok and report.kind == "earnings"
    bad = {b.line: b.reason for b in report.bad}
    assert sorted(bad) == [3, 4, 5, 8, 9, 10]
    assert "not a date" in bad[3] and "“not a date”" in bad[3]
    assert "amount “abc” is not a number" in bad[4]
    assert bad[5] == "missing amount"
    assert "currency" in bad[8]
    assert "future" in bad[9]
    assert "8 values but the header has 6" in bad[10]
    assert report.added == 4 and report.bad_count == 6
    rows = await transactions(sqlite_store, acct)
    assert [(r.amount_cents, r.category, r.fan_handle) for r in rows] == [
        (1250, "tip", "mia"),
        (125000, "subscription", "zoe"),  # the quoted value spans lines 6-7
        (400, "other", "kim"),
        (-250, "tip", "mia"),  # (2.50) is a refund
    ]
    assert report.totals == {"USD": Decimal("1264.00")}
    text = report.text()
    assert "• line 3:" in text and "6 rows skipped" in text
    assert "unknown category “Streams” counted as other (line 11)" in text


async def test_too_many_bad_rows_are_summarised(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await account(sqlite_store)
    lines = ["date,amount"] + [f"2026-11-01,x{i}" for i in range(30)] + ["2026-11-02,5"]
    report = await run(sqlite_store, clock, acct, "e.csv", "\n".join(lines).encode())
    assert report.bad_count == 30 and report.added == 1
    text = report.text(max_bad=10)
    assert text.count("• line") == 10 and "…and 20 more." in text


# ---------------------------------------------------------------- encodings


async def test_windows_1252_file_is_read_with_a_note(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(sqlite_store)
    data = "Date,Amount,Fan\n2026-11-01,5.00,Zoë\n2026-11-02,€7,Renée\n".encode("cp1252")
    report = await run(sqlite_store, clock, acct, "cp.csv", data)
    assert report.ok and report.encoding == "cp1252" and report.added == 2
    assert any("Windows-1252" in n for n in report.notes)
    rows = await transactions(sqlite_store, acct)
    assert [(r.fan_handle, r.currency) for r in rows] == [("zoë", "USD"), ("renée", "EUR")]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig"])
async def test_utf16_and_bom_files(sqlite_store: SqlStore, clock: FakeClock, encoding: str) -> None:
    acct = await account(sqlite_store)
    data = "Date,Amount,Fan\r\n2026-11-01,5.00,Zoë\r\n2026-11-02,6.00,Łukasz\r\n".encode(encoding)
    report = await run(sqlite_store, clock, acct, "u.csv", data)
    assert report.ok and report.added == 2, report.text()
    assert [r.fan_handle for r in await transactions(sqlite_store, acct)] == ["zoë", "łukasz"]


async def test_stray_invalid_bytes_later_in_a_utf8_file(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(sqlite_store)
    head = "Date,Amount,Fan\n" + "".join(f"2026-11-01,1.00,fan{i}\n" for i in range(9000))
    data = head.encode() + "2026-11-02,2.00,Zoë\n".encode("cp1252")
    report = await run(sqlite_store, clock, acct, "mixed.csv", data)
    assert report.encoding == "utf-8" and report.added == 9001
    assert any("1 byte(s) were not valid UTF-8" in n for n in report.notes)
    assert (await transactions(sqlite_store, acct))[-1].fan_handle == "zoë"


async def test_european_format(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await account(sqlite_store)
    data = (FIXTURES / "earnings_eu.csv").read_bytes()
    report = await run(sqlite_store, clock, acct, "earnings_eu.csv", data)
    assert report.ok and report.delimiter == ";" and report.bad_count == 0
    rows = await transactions(sqlite_store, acct)
    assert [(r.day, r.hour, r.amount_cents, r.currency, r.category) for r in rows] == [
        (date(2026, 11, 3), 0, 123450, "EUR", "subscription"),
        (date(2026, 11, 4), 18, 1200, "EUR", "tip"),
        (date(2026, 11, 5), 0, 750, "EUR", "message"),
    ]


async def test_day_first_dates_are_detected(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await account(sqlite_store)
    data = b"date,amount\n01/02/2026,1\n03/04/2026,2\n25/04/2026,3\n"
    report = await run(sqlite_store, clock, acct, "e.csv", data)
    assert report.bad_count == 0
    days = [r.day for r in await transactions(sqlite_store, acct)]
    assert days == [date(2026, 2, 1), date(2026, 4, 3), date(2026, 4, 25)]
    ambiguous = await run(sqlite_store, clock, acct, "e2.csv", b"date,amount\n01/02/2026,9\n")
    assert any("month/day" in n for n in ambiguous.notes)


async def test_currency_from_the_amount_header(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await account(sqlite_store)
    data = b"Date,Amount (GBP)\n2026-11-01,4.00\n"
    await run(sqlite_store, clock, acct, "e.csv", data)
    assert [r.currency for r in await transactions(sqlite_store, acct)] == ["GBP"]


async def test_title_lines_above_the_header_are_skipped(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(sqlite_store)
    data = b"Earnings statement,,\nCreator: mia,,\nDate,Amount,Fan\n2026-11-01,4.00,@x\n"
    report = await run(sqlite_store, clock, acct, "e.csv", data)
    assert report.added == 1 and any("above the header" in n for n in report.notes)


# ---------------------------------------------------------------- idempotency


async def test_importing_the_same_file_twice_changes_nothing(
    store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(store)
    data = (FIXTURES / "earnings_week.csv").read_bytes()
    first = await run(store, clock, acct, "earnings_week.csv", data)
    assert first.added == 14 and first.unchanged == 0
    before = [(r.id, r.row_key, r.amount_cents) for r in await transactions(store, acct)]
    clock.advance(3600)
    second = await run(store, clock, acct, "earnings_week.csv", data, batch_size=3)
    assert second.added == 0 and second.unchanged == 14
    assert "0 new transactions added, 14 already imported" in second.text()
    after = [(r.id, r.row_key, r.amount_cents) for r in await transactions(store, acct)]
    assert after == before


async def test_overlapping_exports_add_only_new_rows_and_keep_identical_rows(
    store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(store)
    # Two identical $5 tips on one day are two tips, in every export that has them.
    first = b"date,amount,fan\n2026-11-01,5,@a\n2026-11-01,5,@a\n2026-11-02,7,@b\n"
    second = b"Date,Amount,Fan\n2026-11-01,$5.00,a\n2026-11-01,5.00,A\n2026-11-03,9,c\n"
    assert (await run(store, clock, acct, "oct.csv", first)).added == 3
    report = await run(store, clock, acct, "nov.csv", second)
    assert report.added == 1 and report.unchanged == 2
    cents = [r.amount_cents for r in await transactions(store, acct)]
    assert cents == [500, 500, 700, 900]


async def test_transaction_ids_make_the_key(store: SqlStore, clock: FakeClock) -> None:
    acct = await account(store)
    data = b"id,date,amount\nT1,2026-11-01,5\nT2,2026-11-01,5\nT1,2026-11-02,6\n"
    report = await run(store, clock, acct, "tx.csv", data)
    assert report.added == 2 and [b.line for b in report.bad] == [4]
    assert "appears twice (also line 2)" in report.bad[0].reason
    # The same ids in a later export (a corrected amount) are not imported twice.
    again = await run(store, clock, acct, "tx2.csv", b"id,date,amount\nT2,2026-11-01,5.5\n")
    assert again.added == 0
    assert sorted(r.external_id for r in await transactions(store, acct)) == ["T1", "T2"]


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("fans.csv", ["fans"]),
        ("FanList.csv", ["fans"]),
        ("subscribers-2026.csv", ["fans"]),
        ("ppv_offers.csv", ["offers"]),
        ("OnlyFans statement Nov.csv", ["earnings"]),
        ("fansly_earnings.csv", ["earnings"]),
        ("fansly.csv", []),  # platform names are no hint
        ("onlyfans.csv", []),
        ("fanvue-export.csv", []),
    ],
)
def test_file_names_hint_by_whole_word(name: str, kinds: list[str]) -> None:
    assert name_hints(name) == kinds


def test_statuses_and_descriptions() -> None:
    assert [earned_status(s) for s in ("", "Complete", "PAID", "pending", "Successful")] == [
        True
    ] * 5
    assert {earned_status(s) for s in ("Refunded", "Chargeback", "Reversed", "Failed")} == {False}
    assert {earned_status(s) for s in ("Cancelled", "Canceled", "Declined", "Disputed")} == {False}
    assert earned_status("on hold") is None
    assert split_description("Tip from Jane (@janedoe)") == ("Tip", "janedoe")
    assert split_description("Payment for message from @mike99") == (
        "Payment for message",
        "@mike99",
    )
    assert split_description("Subscription from u123456") == ("Subscription", "u123456")
    assert split_description("Recurring subscription from Jane Doe") == (
        "Recurring subscription",
        "",
    )
    assert split_description("Referral payout") == ("Referral payout", "")
    assert split_description("Earnings from referrals") == ("Earnings", "")  # not a fan
    assert split_description("Tip from Jane") == ("Tip", "")  # a name, no handle
    assert split_description("Tip from jane_doe") == ("Tip", "jane_doe")


STATEMENT = """Date,Amount,Fee,Net,Description,Status
"Nov 24, 2026, 3:15 PM","$10.00","$2.00","$8.00","Tip from Jane (@janedoe)","Complete"
"Nov 24, 2026, 2:01 PM","$4.99","$1.00","$3.99","Payment for message from Mike (@mike99)","Complete"
"Nov 23, 2026, 9:00 AM","$9.99","$2.00","$7.99","Subscription from Tipsy (@tipsy)","Pending"
"Nov 21, 2026, 7:30 PM","$25.00","$5.00","$20.00","Payment for post from @janedoe","{post}"
"Nov 20, 2026, 6:00 PM","$15.00","$3.00","$12.00","Tip from Mike (@mike99)","Refunded"
"Nov 19, 2026, 5:00 PM","$5.00","$1.00","$4.00","Referral payout","On hold"
"""


async def test_an_earnings_statement_with_descriptions_and_statuses(
    store: SqlStore, clock: FakeClock
) -> None:
    """An export like OnlyFans' statements: no fan or category column, a description naming
    both, fees beside the net amount, and a status; named after the platform."""
    acct = await account(store)
    first = await run(store, clock, acct, "fansly.csv", STATEMENT.format(post="Complete").encode())
    assert first.kind == "earnings" and first.added == 5 and first.bad_count == 0
    assert first.totals == {"USD": Decimal("43.98")}  # net amounts; the refund is not counted
    text = first.text()
    assert "1 row: refunded, charged back or failed: not counted (line 6)." in text
    assert "1 row: unknown status “On hold” counted as paid (line 7)." in text
    rows = [(r.category, r.fan_handle, r.amount_cents) for r in await transactions(store, acct)]
    assert rows == [
        ("referral", "", 400),
        ("ppv", "janedoe", 2000),
        ("subscription", "tipsy", 799),  # Tipsy's subscription is no tip
        ("message", "mike99", 399),
        ("tip", "janedoe", 800),
    ]
    # The fans the descriptions name join the fan list, as a fan column's would.
    assert "Fan list: 3 fans who paid added" in text
    listed = {f.handle: f.total_spent for f in await store.fan_lists.query(acct, FanQuery())}
    assert listed == {
        "janedoe": Decimal("28.00"),
        "tipsy": Decimal("7.99"),
        "mike99": Decimal("3.99"),
    }
    # The next export shows the post charged back: the transaction leaves the earnings.
    clock.advance(86_400)
    second = await run(
        store, clock, acct, "fansly.csv", STATEMENT.format(post="Chargeback").encode()
    )
    assert second.added == 0 and second.removed == 1 and second.unchanged == 4
    assert "1 transaction imported before is now refunded" in second.text()
    assert [r.amount_cents for r in await transactions(store, acct)] == [400, 799, 399, 800]
    other = await account(store, "bob")  # and never in another account
    await run(store, clock, other, "s.csv", STATEMENT.format(post="Complete").encode())
    third = await run(store, clock, acct, "s.csv", STATEMENT.format(post="Refunded").encode())
    assert third.removed == 0
    assert len(await transactions(store, other)) == 5


async def test_the_fan_named_in_a_description_beside_a_type_column(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(sqlite_store)
    data = (
        b"Date,Type,Net,Description\n"
        b"2026-11-01,Tip,8.00,Tip from Jane (@janedoe)\n"
        b"2026-11-02,Media purchase,3.99,Unlocked by @mike99\n"
        b"2026-11-03,Subscription,7.99,Renewal from u123\n"
    )
    report = await run(sqlite_store, clock, acct, "export.csv", data)
    assert report.added == 3 and report.bad_count == 0
    rows = [(r.category, r.fan_handle) for r in await transactions(sqlite_store, acct)]
    assert rows == [("tip", "janedoe"), ("ppv", ""), ("subscription", "u123")]


async def test_refund_rows_take_money_back_whatever_their_sign(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(sqlite_store)
    data = (
        b"date,amount,fan,type\n"
        b"2026-10-01,10,@a,tip\n"
        b"2026-10-02,10,@a,Tip refund\n"  # listed positive: still money going back
        b"2026-10-03,-5,@b,Chargeback\n"
        b"2026-10-04,3,@c,ppv\n"
    )
    report = await run(sqlite_store, clock, acct, "earnings.csv", data)
    assert report.added == 4 and report.totals == {"USD": Decimal("-2.00")}
    assert "unknown category" not in report.text()
    rows = [(r.category, r.amount_cents) for r in await transactions(sqlite_store, acct)]
    assert rows == [("tip", 1000), ("tip", -1000), ("other", -500), ("ppv", 300)]


async def test_imports_never_touch_another_account(store: SqlStore, clock: FakeClock) -> None:
    alice, bob = await account(store, "alice"), await account(store, "bob")
    data = (FIXTURES / "earnings_week.csv").read_bytes()
    await run(store, clock, alice, "e.csv", data)
    # Bob imports the very same file: same row keys, his own rows.
    report = await run(store, clock, bob, "e.csv", data)
    assert report.added == 14
    assert len(await transactions(store, alice)) == 14 and len(await transactions(store, bob)) == 14
    assert await store.earnings.buckets(bob + 1000, None, FAR) == []


async def test_import_into_a_missing_account_is_refused(store: SqlStore, clock: FakeClock) -> None:
    with pytest.raises(NotFound):
        await run(store, clock, 987654, "e.csv", b"date,amount\n2026-11-01,5\n")


# ---------------------------------------------------------------- fans and offers


async def test_fan_list_import(store: SqlStore, clock: FakeClock) -> None:
    acct = await account(store)
    data = (FIXTURES / "fans.csv").read_bytes()
    report = await run(store, clock, acct, "fans.csv", data)
    assert report.kind == "fans" and report.added == 4 and [b.line for b in report.bad] == [6]
    assert "missing handle" in report.bad[0].reason
    assert any("unknown tier “superfan”" in n for n in report.notes)
    mia = await store.fans.get(acct, "mia_rose")
    assert mia is not None
    assert (mia.name, mia.tier, mia.total_spent, mia.last_active, mia.tags) == (
        "Mia",
        "vip",
        Decimal("1250.00"),
        date(2026, 11, 20),
        ["cosplay", "gym"],
    )
    assert mia.notes == "loves behind the scenes"
    zoe = await store.fans.get(acct, "zoe")
    assert zoe is not None and zoe.tier == "regular" and zoe.tags == ["feet", "outdoors"]
    assert await store.fan_lists.count(acct, FanQuery()) == 4


@pytest.mark.parametrize(
    ("text", "platform"),
    [
        ("onlyfans_statement_2026.csv", "onlyfans"),
        ("Fansly Earnings (Nov).csv", "fansly"),
        ("OnlyFans-2026-11.csv", "onlyfans"),
        ("only-fans earnings.csv", "onlyfans"),
        ("OF", "onlyfans"),
        ("fansly", "fansly"),
        ("Only Fans", "onlyfans"),
        ("my tiktok live gifts", "tiktok"),
        ("these are my fansly earnings for november", "fansly"),
        ("twitter_subs.csv", "x"),
        ("statement_of_earnings.csv", None),  # "of" inside a name is a word, not OnlyFans
        ("earnings.csv", None),
        ("fans.csv", None),
        ("here is the export of last month", None),
        ("", None),
    ],
)
def test_platform_in_a_file_name_or_a_caption(text: str, platform: str | None) -> None:
    assert platform_in_text(text) == platform


def test_platform_column_values() -> None:
    assert earnings_platform("OF") == "onlyfans"
    assert earnings_platform(" Fansly ") == "fansly"
    assert earnings_platform("Fanvue") == "fanvue"  # not in the vocabulary: its own name
    assert earnings_platform("Loyal Fans") == "loyal_fans"
    assert earnings_platform("$$$") == "" and earnings_platform("x" * 40) == ""


async def test_earnings_remember_their_platform(store: SqlStore, clock: FakeClock) -> None:
    # A creator on OnlyFans and Fansly sends both statements: /stats could not tell them apart.
    alice, bob = await account(store), await account(store, "bob")
    of = b"Date,Amount,Fan\n2026-11-10 12:00:00,50.00,@mia\n2026-11-11 12:00:00,30.00,@leo\n"
    report = await run(store, clock, alice, "onlyfans_statement.csv", of)
    assert report.platforms == {"onlyfans": 2}
    assert "Platform: OnlyFans (from the file name)." in report.text()
    plain = b"Date,Amount,Fan\n2026-11-12 12:00:00,20.00,@zoe\n2026-11-13 12:00:00,5.00,@ana\n"
    unsaid = await run(store, clock, alice, "earnings.csv", plain)
    assert unsaid.platforms == {"": 2} and "Platform" not in unsaid.text()
    await run(store, clock, bob, "earnings.csv", plain)
    # The same file again, said to be from Fansly: nothing new, the two rows get their platform.
    importer = CsvImporter(store, clock)
    said = await importer.import_stream(alice, "earnings.csv", [plain], platform="fansly")
    assert (said.added, said.unchanged, said.relabelled) == (0, 0, 2)
    text = said.text()
    assert "0 new transactions added, 2 already imported before." in text
    assert "Platform: Fansly (as you said)." in text
    assert "2 of those imported before now have their platform." in text
    # Without a platform it keeps the one it has; a combined export names one per row.
    again = await run(store, clock, alice, "earnings.csv", plain)
    assert (again.unchanged, again.relabelled) == (2, 0)
    combined = (
        b"Date,Amount,Platform\n2026-11-14 12:00:00,10.00,OF\n2026-11-14 13:00:00,7.00,Fanvue\n"
        b"2026-11-14 14:00:00,3.00,\n"
    )
    mixed = await run(store, clock, alice, "all.csv", combined)
    assert mixed.platforms == {"onlyfans": 1, "fanvue": 1, "": 1}
    assert "Platforms: Fanvue 1 · OnlyFans 1 · not said 1." in mixed.text()
    got = {(t.amount_cents, t.platform) for t in await transactions(store, alice)}
    assert got == {
        (5000, "onlyfans"),
        (3000, "onlyfans"),
        (2000, "fansly"),
        (500, "fansly"),
        (1000, "onlyfans"),
        (700, "fanvue"),
        (300, ""),
    }
    assert {t.platform for t in await transactions(store, bob)} == {""}  # Bob's stay unsaid
    # The fans who paid know where they paid (labelled later: raised on the re-import).
    fans = {f.handle: f.platforms for f in await store.fan_lists.query(alice, FanQuery())}
    assert fans == {"mia": ["onlyfans"], "leo": ["onlyfans"], "zoe": ["fansly"], "ana": ["fansly"]}
    both = b"Date,Amount,Fan\n2026-11-15 12:00:00,8.00,@mia\n"
    await run(store, clock, alice, "fansly_nov.csv", both)
    mia = await store.fans.get(alice, "mia")
    assert mia is not None and mia.platforms == ["fansly", "onlyfans"]
    assert {f.handle: f.platforms for f in await store.fan_lists.query(bob, FanQuery())} == {
        "zoe": [],
        "ana": [],
    }
    # Changing a fan by hand (/fans add) keeps where they paid.
    await FansService(store).save(alice, FanPatch("mia", {"tier": "vip"}))
    again_mia = await store.fans.get(alice, "mia")
    assert again_mia is not None and again_mia.platforms == ["fansly", "onlyfans"]


async def test_the_same_row_on_two_platforms_is_two_transactions(
    store: SqlStore, clock: FakeClock
) -> None:
    # An agency sends a creator's OnlyFans and Fansly exports: the Fansly rows that looked like
    # OnlyFans ones (the same $9.99 from @leo on one day, or the same transaction id) were
    # taken for them — "0 new, 2 of those imported before now have their platform" — so
    # Fansly's money was lost and OnlyFans' was labelled Fansly.
    alice, bob = await account(store), await account(store, "bob")
    rows = (
        b"Date,Amount,Category,Fan\n2026-11-10,9.99,subscription,@leo\n2026-11-11,5.00,tip,@mia\n"
    )
    of = await run(store, clock, alice, "onlyfans.csv", rows)
    assert of.added == 2
    await run(store, clock, bob, "onlyfans.csv", rows)
    fansly = await run(store, clock, alice, "fansly.csv", rows)
    assert (fansly.added, fansly.unchanged, fansly.relabelled) == (2, 0, 0)
    got = sorted((t.amount_cents, t.platform) for t in await transactions(store, alice))
    assert got == [(500, "fansly"), (500, "onlyfans"), (999, "fansly"), (999, "onlyfans")]
    # Each again, or the file with no platform said: nothing new, nothing relabelled.
    for name in ("fansly.csv", "onlyfans.csv", "earnings.csv"):
        again = await run(store, clock, alice, name, rows)
        assert (again.added, again.unchanged, again.relabelled) == (0, 2, 0), name
    assert len(await transactions(store, alice)) == 4
    # A refund shown in one platform's export takes back that platform's transaction only.
    refund = b"Date,Amount,Category,Fan,Status\n2026-11-11,5.00,tip,@mia,Refunded\n"
    gone = await run(store, clock, alice, "fansly.csv", refund)
    assert gone.removed == 1
    got = sorted((t.amount_cents, t.platform) for t in await transactions(store, alice))
    assert got == [(500, "onlyfans"), (999, "fansly"), (999, "onlyfans")]
    assert (await run(store, clock, alice, "fansly.csv", refund)).removed == 0
    assert (await run(store, clock, alice, "onlyfans.csv", refund)).removed == 1
    # Transaction ids are each platform's own: the same id on two platforms is two payments.
    ids = b"Transaction ID,Date,Amount,Fan\n1001,2026-11-12,20.00,@zoe\n"
    assert (await run(store, clock, alice, "onlyfans.csv", ids)).added == 1
    assert (await run(store, clock, alice, "fansly.csv", ids)).added == 1
    assert (await run(store, clock, alice, "fansly.csv", ids)).added == 0
    # Offers too.
    offers = b"Date,Price,Sent,Bought\n2026-11-10,15.00,100,12\n"
    importer = CsvImporter(store, clock)
    for platform in ("onlyfans", "fansly", "fansly"):
        await importer.import_stream(alice, "ppv_offers.csv", [offers], platform=platform)
    async with store.sessions() as session:
        stored = await session.execute(
            select(OfferRow.platform).where(OfferRow.account_id == alice)
        )
        assert sorted(stored.scalars()) == ["fansly", "onlyfans"]
    # Bob's are his: one platform's, untouched.
    assert sorted((t.amount_cents, t.platform) for t in await transactions(store, bob)) == [
        (500, "onlyfans"),
        (999, "onlyfans"),
    ]


async def test_fan_dates_as_a_ui_shows_them_and_unreadable_ones_keep_the_fan(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    # Agency tools export what their screens show ("3 days ago"); a date that could not be
    # read dropped the whole fan, her spend and tier with it.
    acct = await account(sqlite_store)
    fans = (
        b"Username,Tier,Last seen,Total spent,Joined\n"
        b"@ava,vip,3 days ago,$40,2 weeks ago\n"
        b"@bea,regular,yesterday,$10,an hour ago\n"
        b"@cat,whale,Online now,$900,someday\n"
        b"@dan,new,last Tuesday-ish,$5,\n"
        b"@eve,vip,2026-11-01,lots,\n"
    )
    report = await run(sqlite_store, clock, acct, "fans.csv", fans)
    assert (report.added, report.bad_count) == (5, 0)
    assert "1 row: total spent not an amount of zero or more, left as it was (line 6)." in (
        report.text()
    )
    assert "1 row: join date not a date I can read, left as it was (line 4)." in report.text()
    assert "1 row: last active date not a date I can read, left as it was (line 5)." in (
        report.text()
    )
    got = {
        f.handle: (f.tier, f.total_spent, f.last_active, f.first_seen)
        for f in await sqlite_store.fan_lists.query(acct, FanQuery())
    }
    assert got == {  # the clock: 2026-11-24 12:00 UTC
        "ava": ("vip", Decimal("40.00"), date(2026, 11, 21), date(2026, 11, 10)),
        "bea": ("regular", Decimal("10.00"), date(2026, 11, 23), date(2026, 11, 24)),
        "cat": ("whale", Decimal("900.00"), date(2026, 11, 24), None),
        "dan": ("new", Decimal("5.00"), None, None),
        "eve": ("vip", Decimal("0"), date(2026, 11, 1), None),
    }


async def test_fans_who_paid_join_the_fan_list(store: SqlStore, clock: FakeClock) -> None:
    # /stats counted the fans an earnings export names, but /fans and /personalize ... to
    # whales knew none of them until a separate fan export was sent.
    alice, bob = await account(store), await account(store, "bob")
    await store.profiles.save(alice, Profile(timezone="America/New_York"))
    fans = b"Username,Level,Lifetime spend,Last seen\n@mia,vip,500,2026-11-22\n@leo,whale,10,\n"
    await run(store, clock, alice, "fans.csv", fans)
    await run(store, clock, bob, "fans.csv", fans)
    earnings = (
        b"Date,Amount,Currency,Fan\n"
        b"2026-11-10 12:00:00,100.00,USD,@mia\n"  # the export's lifetime $500 knows more
        b"2026-11-21 02:30:00+00:00,40.00,USD,@leo\n"  # Nov 20 in New York
        b"2026-11-12 10:00:00,25.00,USD,@Zoe\n"
        b"2026-11-13 10:00:00,-5.00,USD,@zoe\n"  # a refund counts
        b"2026-11-14 10:00:00,30.00,EUR,@ana\n"  # no dollars: in the list, spent unknown
        b"2026-11-15 10:00:00,12.00,USD,\n"
    )
    report = await run(store, clock, alice, "earnings.csv", earnings)
    assert (report.fans_added, report.fans_updated) == (2, 2)  # mia: when she joined
    assert "Fan list: 2 fans who paid added, 2 updated" in report.text()
    got = {
        f.handle: (f.tier, f.total_spent, f.last_active)
        for f in await store.fan_lists.query(alice, FanQuery())
    }
    assert got == {
        "mia": ("vip", Decimal("500.00"), date(2026, 11, 22)),
        "leo": ("whale", Decimal("40.00"), date(2026, 11, 20)),
        "zoe": ("regular", Decimal("20.00"), date(2026, 11, 12)),  # the refund is not hers
        "ana": ("regular", Decimal("0.00"), date(2026, 11, 14)),
    }
    assert len(await store.fan_lists.query(alice, FanQuery(spent=((">=", Decimal(20)),)))) == 3
    # When each joined: the first payment's day, on the account's clock (ana's euros count).
    joined = {f.handle: f.first_seen for f in await store.fan_lists.query(alice, FanQuery())}
    assert joined == {
        "mia": date(2026, 11, 10),
        "leo": date(2026, 11, 20),
        "zoe": date(2026, 11, 12),
        "ana": date(2026, 11, 14),
    }

    again = await run(store, clock, alice, "earnings.csv", earnings)
    assert (again.fans_added, again.fans_updated) == (0, 0)
    assert "Fan list" not in again.text()
    later = b"Date,Amount,Fan\n2026-11-23 10:00:00,600.00,@mia\n"
    raised = await run(store, clock, alice, "later.csv", later)
    assert (raised.fans_added, raised.fans_updated) == (0, 1)
    mia = await store.fans.get(alice, "mia")
    assert mia is not None and (mia.total_spent, mia.last_active) == (
        Decimal("700.00"),
        date(2026, 11, 23),
    )
    # Without a fan column the fan list is left alone; another account's list never moves.
    plain = await run(store, clock, alice, "plain.csv", b"Date,Amount\n2026-11-23,9\n")
    assert (plain.fans_added, plain.fans_updated) == (0, 0)
    assert {f.handle: f.total_spent for f in await store.fan_lists.query(bob, FanQuery())} == {
        "mia": Decimal("500.00"),
        "leo": Decimal("10.00"),
    }


async def test_a_refund_brings_an_earned_total_down_never_an_exports(
    store: SqlStore, clock: FakeClock
) -> None:
    # Totals raised from the earnings were never lowered: a chargeback imported later left the
    # fan at what they had paid before it, and `spent>=100` segments kept them.
    alice = await account(store)
    await run(store, clock, alice, "fans.csv", b"Username,Lifetime spend\n@mia,500\n")
    paid = (
        b"Date,Amount,Fan\n2026-11-10,100.00,@mia\n2026-11-11,80.00,@leo\n2026-11-12,30.00,@leo\n"
    )
    await run(store, clock, alice, "earnings.csv", paid)

    async def spent() -> dict[str, Decimal]:
        return {f.handle: f.total_spent for f in await store.fan_lists.query(alice, FanQuery())}

    assert await spent() == {"mia": Decimal("500.00"), "leo": Decimal("110.00")}
    refunds = (
        b"Date,Amount,Type,Fan\n"
        b"2026-11-20,-30.00,Refund,@leo\n"
        b"2026-11-20,100.00,Chargeback,@mia\n"  # listed positive: a chargeback takes it back
    )
    await run(store, clock, alice, "refunds.csv", refunds)
    # leo's total was the earnings' own figure and follows them down; mia's is the fan
    # export's lifetime total, which knows more than the earnings: never lowered.
    assert await spent() == {"mia": Decimal("500.00"), "leo": Decimal("80.00")}
    # a chargeback is not the fan being active
    mia = await store.fans.get(alice, "mia")
    assert mia is not None and mia.last_active == date(2026, 11, 10)
    again = await run(store, clock, alice, "refunds.csv", refunds)
    assert again.fans_updated == 0 and await spent() == {
        "mia": Decimal("500.00"),
        "leo": Decimal("80.00"),
    }
    await run(store, clock, alice, "more.csv", b"Date,Amount,Fan\n2026-11-25,5.00,@leo\n")
    assert (await spent())["leo"] == Decimal("85.00")
    # A total set from a fan export is the export's from then on: refunds leave it alone.
    await run(store, clock, alice, "fans2.csv", b"Username,Lifetime spend\n@leo,300\n")
    await run(store, clock, alice, "r2.csv", b"Date,Amount,Type,Fan\n2026-11-26,-5,Refund,@leo\n")
    assert (await spent())["leo"] == Decimal("300.00")


async def test_an_earnings_breakdown_by_category_column(store: SqlStore, clock: FakeClock) -> None:
    # A platform's daily earnings have one amount column per category. They were read as one
    # transaction a day from the Total column, all of it "other".
    alice, bob = await account(store), await account(store, "bob")
    data = (
        b"Date,Subscriptions,Tips,Posts,Messages,Referrals,Streams,Total\n"
        b"2026-11-01,$120.00,$45.50,$0.00,$80.00,$0.00,,$245.50\n"
        b"2026-11-02,$60.00,$10.00,$15.00,$0.00,$5.00,$0.00,$90.00\n"
        b"2026-11-03,$10.00,lots,$0.00,$0.00,$0.00,$0.00,$10.00\n"
        b"2026-11-04,$10.00,$5.00,$0.00,$0.00,$0.00,$2.50,$15.00\n"
    )
    report = await run(store, clock, alice, "earnings.csv", data)
    assert report.kind == "earnings" and report.rows == 4 and report.added == 10
    assert [b.line for b in report.bad] == [4]
    assert "tip amount “lots” is not a number" in report.bad[0].reason
    assert any("do not add up to the total" in n and "line 5" in n for n in report.notes)
    assert (
        "by category (Subscriptions, Tips, Posts, Messages, Referrals, Streams)" in report.notes[0]
    )
    assert report.totals == {"USD": Decimal("353.00")}
    got = {(t.day.day, t.category, t.amount_cents) for t in await transactions(store, alice)}
    assert got == {
        (1, "subscription", 12000),
        (1, "tip", 4550),
        (1, "message", 8000),
        (2, "subscription", 6000),
        (2, "tip", 1000),
        (2, "ppv", 1500),
        (2, "referral", 500),
        (4, "subscription", 1000),
        (4, "tip", 500),
        (4, "other", 250),
    }
    assert all(t.aggregate for t in await transactions(store, alice))  # totals, not payments
    assert "10 new category totals added" in report.text()
    again = await run(store, clock, alice, "earnings.csv", data)
    assert (again.added, again.unchanged) == (0, 10)
    assert await transactions(store, bob) == []

    # Without a Total column, with the currency in the headers and a second export of the
    # same days in another currency: still one transaction per category with money in it.
    euros = b"Date;Tips (EUR);Paid messages (EUR)\n2026-11-05;12,50;3,00\n2026-11-06;0;7,25\n"
    report = await run(store, clock, bob, "export.csv", euros)
    assert (report.kind, report.added, report.bad) == ("earnings", 3, [])
    got = {
        (t.day.day, t.category, t.amount_cents, t.currency) for t in await transactions(store, bob)
    }
    assert got == {
        (5, "tip", 1250, "EUR"),
        (5, "message", 300, "EUR"),
        (6, "message", 725, "EUR"),
    }


def test_a_fan_list_with_spend_per_category_is_not_an_earnings_breakdown() -> None:
    headers = ["Username", "Tips", "Messages", "Last active date"]
    kind, columns = detect_kind(headers, "export.csv") or ("", {})
    assert kind == "fans" and columns["handle"] == 0
    assert breakdown_columns(headers, map_columns(headers, "earnings")) == {}
    daily = ["Date", "Tips", "Messages net", "Total"]
    assert detect_kind(daily, "export.csv") is not None
    assert breakdown_columns(daily, map_columns(daily, "earnings")) == {1: "tip", 2: "message"}


async def test_a_totals_line_under_the_data_is_no_bad_row_and_no_fan(
    store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(store)
    earnings = (
        b'"Date","Amount","Type"\r\n"2026-11-01","12.50","Tip"\r\n'
        b'"2026-11-02","9.99","Subscription"\r\n\r\n"Total:","22.49",""\r\n'
    )
    report = await run(store, clock, acct, "earnings.csv", earnings)
    assert (report.rows, report.added, report.bad) == (3, 2, [])
    assert "1 row: a totals row, not data: skipped (line 5)." in report.notes
    fans = b"Username,Total spent\nmia,100\nleo,50\nGrand Total,150\n"
    report = await run(store, clock, acct, "fans.csv", fans)
    assert (report.added, report.bad) == (2, [])
    assert sorted(f.handle for f in await store.fans.list(acct)) == ["leo", "mia"]


async def test_a_fee_column_beside_a_gross_amount_is_subtracted(
    store: SqlStore, clock: FakeClock
) -> None:
    # "Gross, Fee" without a net column counted the gross: 25% more than the creator earned.
    acct = await account(store)
    data = (
        b"Date,Type,Fan,Gross,Fee\n"
        b"2026-11-01,Tip,@jane,$10.00,$2.00\n"
        b"2026-11-02,Tip,@jane,$5.00,\n"
        b"2026-11-03,Chargeback,@jane,-$10.00,-$2.00\n"
        b"2026-11-04,Refund,@mike,$20.00,$4.00\n"
    )
    report = await run(store, clock, acct, "earnings.csv", data)
    assert (report.kind, report.added, report.bad) == ("earnings", 4, [])
    assert "Fees (Fee) were subtracted from Gross" in " ".join(report.notes)
    cents = [r.amount_cents for r in await transactions(store, acct)]
    assert cents == [800, 500, -800, -1600]
    assert report.totals == {"USD": Decimal("-11.00")}

    # A net column wins, and a fee beside a net amount is never taken off again.
    for header in (b"Date,Amount,Fee,Net", b"Date,Fee,Net amount"):
        other = await account(store, header.decode())
        row = b"2026-11-05,$10.00,$2.00,$8.00" if header.count(b",") == 3 else b"2026-11-05,2,8"
        report = await run(store, clock, other, "earnings.csv", header + b"\n" + row + b"\n")
        assert [r.amount_cents for r in await transactions(store, other)] == [800], header
        assert not any("Fees" in n for n in report.notes)


async def test_a_subscriber_list_gives_each_fan_a_subscription_status(
    store: SqlStore, clock: FakeClock
) -> None:
    # A platform's subscriber export says Active / Expired in "Status": that is the fan's
    # subscription, not a tier (every row used to warn "unknown tier “Active”").
    alice, bob = await account(store), await account(store, "bob")
    await run(store, clock, bob, "fans.csv", b"handle,subscribed\njanedoe,yes\nkim,yes\n")
    data = (
        b"Username,Name,Status,Subscription Price,Total Spent,Messages Sent,Join Date,Last Active\n"
        b"@janedoe,Jane Doe,Active,$9.99,$245.50,12,2026-09-01,2026-11-20\n"
        b"u12345678,,Expired,$9.99,$9.99,0,2026-05-01,2026-06-01\n"
        b'mike_88,Mike,VIP,Free,"$1,020.00",50,2026-10-10,2026-11-23\n'
        b"kim,,Not Subscribed,$4.99,$0,0,2026-01-01,2026-02-01\n"
    )
    report = await run(store, clock, alice, "subscribers.csv", data)
    assert report.kind == "fans" and report.added == 4 and report.bad == []
    assert not any("tier" in n for n in report.notes), report.notes

    async def statuses(acct: int) -> dict[str, tuple[str, bool | None]]:
        return {f.handle: (f.tier, f.subscribed) for f in await store.fans.list(acct)}

    assert await statuses(alice) == {
        "janedoe": ("regular", True),
        "u12345678": ("regular", False),
        "mike_88": ("vip", None),
        "kim": ("regular", False),
    }
    expired = await store.fan_lists.query(alice, FanQuery(subscribed=False))
    assert sorted(f.handle for f in expired) == ["kim", "u12345678"]

    # A column of its own wins over a Status word and may say yes / no; an unknown word is
    # named and leaves the fan's status as it was.
    data = (
        b"handle,status,subscription status\n"
        b"janedoe,vip,cancelled\nmike_88,whale,yes\nkim,,maybe\nu12345678,active,\n"
    )
    report = await run(store, clock, alice, "fans.csv", data)
    assert (report.updated, report.unchanged, report.bad) == (3, 1, [])
    assert any("unknown subscription status “maybe”" in n for n in report.notes)
    assert await statuses(alice) == {
        "janedoe": ("vip", False),
        "u12345678": ("regular", True),
        "mike_88": ("whale", True),
        "kim": ("regular", False),
    }
    assert await statuses(bob) == {"janedoe": ("regular", True), "kim": ("regular", True)}


async def test_a_subscription_end_date_gives_the_status_when_no_column_does(
    store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(store)
    today = clock.now().date()
    data = (
        "Username,Subscription Start,Subscription End,Status\n"
        f"ends_later,2026-01-01,{today + timedelta(days=20)},\n"
        f"ended,2026-01-01,{today - timedelta(days=3)},\n"
        f"says_expired,2026-01-01,{today + timedelta(days=20)},Expired\n"
        f"ends_today,2026-01-01,{today},\n"
        "no_end,2026-01-01,,\n"
        "garbled,2026-01-01,soon,\n"
    ).encode()
    report = await run(store, clock, acct, "subscribers.csv", data)
    assert (report.kind, report.added, report.bad) == ("fans", 6, [])
    assert any("subscription end date not a date" in n and "line 7" in n for n in report.notes)
    found = {f.handle: f.subscribed for f in await store.fans.list(acct)}
    assert found == {
        "ends_later": True,
        "ended": False,
        "says_expired": False,  # the status column wins
        "ends_today": True,
        "no_end": None,
        "garbled": None,
    }


async def test_an_offer_count_past_what_the_column_holds_is_a_bad_row(
    store: SqlStore, clock: FakeClock
) -> None:
    # It overflowed the INTEGER column and failed the whole import (both backends).
    acct = await account(store)
    data = (
        b"Date,PPV price,Sent,Unlocked,Type\n"
        b"2026-10-01,$9.99,99999999999999999999,17,PPV\n"
        b"2026-10-02,$9.99,1e400,17,PPV\n"
        b"2026-10-03,$9.99,200,17,PPV\n"
    )
    report = await run(store, clock, acct, "ppv_offers.csv", data)
    assert report.kind == "offers" and report.added == 1
    assert [(b.line, "too large" in b.reason) for b in report.bad] == [(2, True), (3, True)]


async def test_nul_bytes_in_a_file_are_dropped(store: SqlStore, clock: FakeClock) -> None:
    # NUL bytes at the start mark a binary file; past the first 4 KB the csv module kept them
    # and PostgreSQL refused them in text (the import failed).
    acct = await account(store)
    good = b"".join(b"fan%d,Fan %d,10,\n" % (i, i) for i in range(400))
    odd = b"mia_rose,Mi\x00a,1\x0025,likes\x00 cosplay\n"
    data = b"handle,name,total_spent,notes\n" + good + odd
    assert len(good) > 4096
    report = await run(store, clock, acct, "fans.csv", data)
    assert report.kind == "fans" and report.added == 401 and report.bad == []
    mia = await store.fans.get(acct, "mia_rose")
    assert mia is not None
    assert (mia.name, mia.total_spent, mia.notes) == ("Mia", Decimal("125.00"), "likes cosplay")


async def test_fan_reimport_writes_nothing_and_partial_files_update_only_their_columns(
    store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(store)
    data = (FIXTURES / "fans.csv").read_bytes()
    await run(store, clock, acct, "fans.csv", data)

    async def rows() -> list[tuple[object, ...]]:
        async with store.sessions() as session:
            found = await session.scalars(
                select(FanRow).where(FanRow.account_id == acct).order_by(FanRow.handle)
            )
            return [
                (f.handle, f.name, f.tier, f.total_spent, f.last_active, f.tags, f.updated_at)
                for f in found
            ]

    before = await rows()
    clock.advance(86400)
    again = await run(store, clock, acct, "fans.csv", data)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert await rows() == before  # not even updated_at moved

    tiers = b"handle,tier\nleo,vip\nkim,regular\nnew_fan,new\n"
    partial = await run(store, clock, acct, "tiers.csv", tiers)
    assert (partial.added, partial.updated, partial.unchanged) == (1, 1, 1)
    leo = await store.fans.get(acct, "leo")
    assert leo is not None and leo.tier == "vip" and leo.name == "Leo"  # name kept
    assert leo.total_spent == Decimal("980.00") and leo.tags == ["cosplay"]


async def test_offers_import(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await account(sqlite_store)
    data = (FIXTURES / "ppv_offers.csv").read_bytes()
    report = await run(sqlite_store, clock, acct, "ppv_offers.csv", data)
    assert report.kind == "offers" and report.added == 5
    assert [b.line for b in report.bad] == [6]
    assert "bought (60) is more than sent (50)" in report.bad[0].reason
    offers = await sqlite_store.offers.list(acct, "ppv")
    assert [(o.price, o.sent, o.bought) for o in offers] == [
        (Decimal("9.99"), 200, 17),
        (Decimal("14.99"), 200, 11),
        (Decimal("19.99"), 100, 3),
        (Decimal("4.99"), 100, 14),
    ]
    bundles = await sqlite_store.offers.list(acct, "bundle")
    assert [(o.price, o.sent, o.bought) for o in bundles] == [(Decimal("29.99"), 10, 1)]
    again = await run(sqlite_store, clock, acct, "ppv_offers.csv", data)
    assert again.added == 0
    async with sqlite_store.sessions() as session:
        count = len(list(await session.scalars(select(OfferRow.id))))
    assert count == 5


async def test_a_mass_message_export_skips_free_messages(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    # A mass-message statistics export lists free messages beside the priced ones: each was a
    # "bad row" ("price “Free” is not a number", "price 0.00 is not above zero").
    acct = await account(sqlite_store)
    data = (
        "Sent Date,Message,Price,Sent To,Viewed,Purchases,Earnings\n"
        '"Nov 20, 2026 8:15 pm","New set 🔥 unlock now",$14.99,1200,640,48,$719.52\n'
        '"Nov 21, 2026 9:00 pm","Good morning babe ☀️",Free,1180,700,0,$0.00\n'
        '"Nov 22, 2026 7:30 pm","Bundle of 3 videos",$24.99,1190,610,21,$524.79\n'
        '"Nov 23, 2026 7:30 pm","Just saying hi",$0.00,1190,610,0,$0.00\n'
        '"Nov 23, 2026 9:30 pm","Oops",-$5.00,1190,610,0,$0.00\n'
    ).encode()
    report = await run(sqlite_store, clock, acct, "mass_messages.csv", data)
    assert (report.kind, report.rows, report.added) == ("offers", 5, 2)
    assert [(b.line, b.reason) for b in report.bad] == [(6, "price -5.00 is not above zero")]
    assert "2 rows: free messages are not priced offers: skipped (line 3, 5)." in report.notes
    offers = await sqlite_store.offers.list(acct, "ppv")
    assert [(o.price, o.sent, o.bought) for o in offers] == [
        (Decimal("14.99"), 1200, 48),
        (Decimal("24.99"), 1190, 21),
    ]


# ---------------------------------------------------------------- streaming, CLI path


async def test_progress_is_reported_per_batch(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await account(sqlite_store)
    lines = ["date,amount,fan"] + [f"2026-11-01 10:{i % 60:02d},{i}.00,f{i}" for i in range(250)]
    data = "\n".join(lines).encode()
    seen: list[ImportProgress] = []

    async def progress(p: ImportProgress) -> None:
        seen.append(p)

    importer = CsvImporter(sqlite_store, clock, batch_size=100)
    report = await importer.import_stream(
        acct, "e.csv", chunks_of(data, 512), total_bytes=len(data), progress=progress
    )
    assert report.added == 250
    assert [p.rows for p in seen] == [100, 200, 250] and [p.done for p in seen][-1] is True
    assert [p.added for p in seen] == [100, 200, 250]
    assert seen[-1].fraction == 1.0
    assert all(a.bytes_read <= b.bytes_read for a, b in itertools.pairwise(seen))


async def test_import_csv_port_answers_a_chat_report(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(sqlite_store)
    text = await CsvImporter(sqlite_store, clock).import_csv(
        acct, "earnings_week.csv", (FIXTURES / "earnings_week.csv").read_bytes()
    )
    assert "**earnings\\_week.csv**" in text and "14 new transactions added" in text
    assert "Totals in this file: €30.00 · $326.00" in text and "/stats 30d" in text


async def test_import_file_and_account_lookup_for_the_cli(
    sqlite_store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    acct = await account(sqlite_store, "mia")
    await sqlite_store.accounts.resolve(
        Identity(platform="telegram", external_id="77", username="Mia")
    )
    assert await find_accounts(sqlite_store, str(acct)) == [acct]
    assert await find_accounts(sqlite_store, "console:mia") == [acct]
    assert len(await find_accounts(sqlite_store, "@MIA")) == 2  # two identities named mia
    assert await find_accounts(sqlite_store, "999999") == []
    path = tmp_path / "earnings.csv"
    path.write_bytes((FIXTURES / "earnings_week.csv").read_bytes())
    err = io.StringIO()
    report = await import_file(CsvImporter(sqlite_store, clock), acct, path, err)
    assert report.added == 14 and "14 rows read, 14 new (100%)\n" in err.getvalue()
