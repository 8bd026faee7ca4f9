"""CSV imports: earnings (transactions), fan lists and PPV offers, platform-neutral.

Implements the ``core.ports.Importer`` port (``import_csv(account_id, name, data) -> str``) and a
streaming API (``CsvImporter.import_stream``) the CLI and background jobs use.

How a file is read
------------------
- **Encoding**: a BOM picks UTF-8 / UTF-16; UTF-16 without a BOM is recognised by its zero
  bytes; otherwise UTF-8, or Windows-1252 when the start of the file is not valid UTF-8 (the
  report says so). Stray invalid bytes later in a UTF-8 file are read as Windows-1252 and
  counted. An Excel workbook (.xlsx: a creator who opened her export in Excel and saved it)
  is read as the CSV of its active sheet (``xlsx_as_csv``); old .xls, zip, PDF and other
  binary files are refused with a clear message.
- **Streaming**: bytes go through an incremental decoder into ``csv.reader`` line by line, and
  rows are written in batches (``batch_size``), each batch its own transaction; memory does not
  grow with the file (apart from a small digest per row used to tell identical rows apart).
  ``progress`` is awaited after every batch.
- **Header**: the first row (of the first five) whose columns name a known kind of file.
  Columns are recognised by name with common aliases (``Date``/``Created at``/``Timestamp``,
  ``Net``/``Amount``/``Earnings``, ``Type``/``Category``, ``Fan``/``Username``...); the
  delimiter (``,`` ``;`` tab ``|``) is sniffed from that line.
- **Kinds**: *offers* (price, sent, bought [+ date, type]), *earnings* (date, amount [+ currency,
  category, fan, transaction id, status]; both with the time of day in the date or in a
  ``Time`` column of its own) and *fans* (handle [+ name, tier, total spent, last
  active, tags, notes, subscription status or end date]; a subscriber list's "Status: Active /
  Expired" is the subscription status, not the tier). Words in the file name break ties
  (``fans.csv``, ``ppv_offers.csv``; platform names such as ``fansly.csv`` or ``onlyfans.csv``
  hint nothing).
- **Statements**: a description column ("Tip from Jane (@janedoe)", "Payment for message from
  @mike") gives the category from the words before "from" and, when the file has no fan
  column, the fan (a description beside a type column is read for the fan only). Rows whose
  status says refunded, charged back, failed, declined or cancelled are not earnings: they are
  not counted, and a transaction imported earlier that a later export shows that way is
  removed (same key). Other statuses (complete, paid, pending...) count; an unknown one counts
  and is mentioned. A row whose type or description is a refund or chargeback takes money back,
  whatever the sign of its amount.
- **Fees**: a fee column beside a gross amount (``Gross``, ``Amount``, ``Price``, ``Total``)
  with no net column is subtracted, so the figures are what the creator earned; beside a net
  amount it is ignored.
- **Totals lines** under the data ("Total:", "Grand total", "Sum" in the first filled cell)
  are skipped with a note: no bad row, and never a fan called "total".
- **Breakdowns**: earnings with an amount column per category and no category or fan column
  ("Date, Subscriptions, Tips, Posts, Messages, Referrals, Streams, Total") give one
  transaction per category with money in it; a Total that the parts do not add up to is
  mentioned.
- **Values**: dates in ISO form, ``MM/DD/YYYY`` or ``DD/MM/YYYY`` (the order is decided from the
  file's own unambiguous dates; ``.`` separators mean day first), month names (``Nov 3, 2026``),
  Unix timestamps; times optional with ``AM/PM`` and ``Z``/``+02:00`` offsets. Times without
  an offset are read on the account's clock (its profile's time zone, UTC when none), and
  transactions keep the day and hour of that clock (``/stats`` counts them in it). Amounts
  with currency symbols or codes, thousands separators, decimal commas (always with
  ``;``-separated files), ``(12.50)`` or ``-12.50`` for refunds.
- **Currencies** are kept per row (column > symbol/code in the amount > a code in the amount's
  header such as ``Amount (EUR)`` > ``default_currency``). Nothing is converted; reports give
  totals per currency.
- **Platforms**: earnings and offers keep the platform they were made on (a
  ``core.vocab`` platform slug, or a name of its own such as ``fanvue``): a Platform column per
  row, else what the creator said with the file (a chat caption, ``--platform``), else a
  platform named in the file name. Keys do not include it, so sending a file again with its
  platform labels the rows imported before without one; a file sent without one keeps
  the stored platform. A row that matches a stored one of another platform is that
  platform's own (an agency's OnlyFans and Fansly exports can hold the same $9.99 from
  "@leo" on one day): the store keeps both (``storage.analytics.platform_key``).
- **Fans who paid**: after earnings with a fan column, every fan the account's earnings name
  is in the fan list, with a total spent and a last-active day at least what the earnings show
  (``_fans_who_paid``), so ``/fans`` and segments know whoever ``/stats`` counts.
- **Bad rows** are skipped and reported with their line number and reason; good rows are
  kept. Soft problems (an unknown tier or category) are kept with a default and summarised;
  in a fan list an unreadable date or total spent leaves that field as it was, the fan kept
  (dates as a screen shows them, "3 days ago", "Online now", are read from the import's time).

Idempotency
-----------
Earnings and offers rows get a ``row_key``: the export's own transaction id when it has one,
otherwise a digest of the normalised row plus its occurrence number among identical rows of
the same file (two identical $5 tips on one day stay two). The key is unique per account, so
importing the same file again — or an overlapping export — inserts nothing new. Keys are made
of the time as written (``wall_timestamp``), so they stay the same when the account's time zone
changes; a re-import then moves the transactions it already has onto the new clock
(``EarningsRepository.add_many``). Fans are upserted by handle, writing only the columns the file
has, and only when something changed.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import hashlib
import io
import itertools
import re
import tempfile
import zipfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from core import vocab
from core.chat import escape_markup
from core.errors import ServiceUnavailable
from core.models import MAX_AMOUNT, MAX_COUNT
from core.ports import AnalyticsStore, Clock, FanPatch, OfferRecord, Transaction
from core.rules import earnings_platform
from core.services.analytics import format_money
from core.services.fans import normalise_handle
from core.services.segments import subscription_status
from core.timezones import account_timezone, get_zone, offset_name

KINDS = ("earnings", "fans", "offers")
CATEGORIES = ("subscription", "tip", "ppv", "message", "referral", "other")
OFFER_KINDS = ("ppv", "subscription", "bundle")
TIERS = ("new", "regular", "vip", "whale")

HEAD_BYTES = 64 * 1024
READ_CHUNK = 256 * 1024
DATE_LOOKAHEAD_ROWS = 2000
MAX_BAD_KEPT = 1000


class ImportProblem(Exception):
    """The file as a whole cannot be imported (wrong type, no header, missing columns)."""


# ---------------------------------------------------------------- report


@dataclass
class ImportProgress:
    name: str
    kind: str
    rows: int  # data rows read so far
    added: int
    bytes_read: int
    total_bytes: int | None
    done: bool = False

    @property
    def fraction(self) -> float | None:
        if not self.total_bytes:
            return None
        return min(1.0, self.bytes_read / self.total_bytes)


ProgressCallback = Callable[[ImportProgress], Awaitable[None]]


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass
class ImportReport:
    name: str
    kind: str | None = None
    encoding: str = ""
    delimiter: str = ","
    rows: int = 0  # data rows read (blank lines not counted)
    added: int = 0  # new transactions / offers / fans
    updated: int = 0  # fans whose stored values changed; transactions moved to a new clock
    unchanged: int = 0  # rows already imported (or fans already up to date)
    removed: int = 0  # transactions imported before that the file shows as refunded/failed
    relabelled: int = 0  # earnings or offers imported before that now have their platform
    platform: str = ""  # the file's platform (said with it or in its name), "" unknown
    platform_from: str = ""  # how it was known: "as you said", "from the file name"
    platforms: dict[str, int] = field(default_factory=dict)  # platform -> earnings or offers
    fans_added: int = 0  # earnings: fans who paid, new to the fan list
    fans_updated: int = 0  # earnings: fans whose total spent or last-active date went up
    by_category: bool = False  # a breakdown: each entry is a category's total for its row
    bad_count: int = 0
    bad: list[BadRow] = field(default_factory=list)  # the first MAX_BAD_KEPT
    notes: list[str] = field(default_factory=list)
    totals: dict[str, Decimal] = field(default_factory=dict)  # earnings, per currency
    error: str | None = None  # the file could not be imported at all
    import_id: int | None = None  # its /imports record (None: it changed nothing)

    @property
    def ok(self) -> bool:
        return self.error is None

    def text(self, max_bad: int = 10) -> str:
        """A short chat report (markup)."""
        name = escape_markup(self.name or "your file")
        if self.error is not None:
            return f"**{name}** was not imported: {self.error}"
        what = {"earnings": "earnings", "fans": "fan list", "offers": "offers"}.get(
            self.kind or "", "CSV"
        )
        lines = [f"**{name}** — {what}, {self.rows:,} row{'s' * (self.rows != 1)} read"]
        if self.rows == 0:
            lines.append("The file has a header but no rows: nothing to import.")
        elif self.kind == "fans":
            lines.append(
                f"{self.added:,} new fan{'s' * (self.added != 1)}, {self.updated:,} updated, "
                f"{self.unchanged:,} already up to date."
            )
        else:
            noun = "offer rows"
            if self.kind == "earnings":
                noun = "category totals" if self.by_category else "transactions"
            moved = f"{self.updated:,} moved to your time zone, " if self.updated else ""
            lines.append(
                f"{self.added:,} new {noun} added, {moved}"
                f"{self.unchanged + self.relabelled:,} already imported before."
            )
            named = {p: n for p, n in self.platforms.items() if p}
            if len(named) == 1 and not self.platforms.get(""):
                how = f" ({self.platform_from})" if self.platform_from else ""
                lines.append(f"Platform: {vocab.label('platforms', next(iter(named)))}{how}.")
            elif named:
                parts = [
                    f"{vocab.label('platforms', p) if p else 'not said'} {n:,}"
                    for p, n in sorted(
                        self.platforms.items(), key=lambda kv: (not kv[0], -kv[1], kv[0])
                    )
                ]
                lines.append("Platforms: " + " · ".join(parts) + ".")
            if self.relabelled:
                lines.append(
                    f"{self.relabelled:,} of those imported before now have their platform."
                )
        if self.fans_added or self.fans_updated:
            lines.append(
                f"Fan list: {self.fans_added:,} fan{'s' * (self.fans_added != 1)} who paid "
                f"added, {self.fans_updated:,} updated (total spent, last active, platforms) "
                "— see /fans."
            )
        if self.bad_count:
            lines.append(
                f"{self.bad_count:,} row{'s' * (self.bad_count != 1)} skipped "
                "(the others were kept):"
            )
            for bad in self.bad[:max_bad]:
                lines.append(f"• line {bad.line}: {escape_markup(bad.reason)}")
            if self.bad_count > max_bad:
                lines.append(f"…and {self.bad_count - max_bad:,} more.")
        if self.totals:
            parts = [format_money(v, c) for c, v in sorted(self.totals.items())]
            lines.append("Totals in this file: " + " · ".join(parts))
        lines += [escape_markup(n) for n in self.notes]
        if self.import_id is not None:
            lines.append("Wrong account, file or platform? /imports takes an import back.")
        if self.kind == "earnings" and self.rows:
            lines.append("Next: /stats 30d")
        elif self.kind == "offers" and self.rows:
            lines.append("Next: /price ppv")
        elif self.kind == "fans" and self.rows:
            lines.append("Next: /fans inactive:14d")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "name": self.name,
            "kind": self.kind,
            "encoding": self.encoding,
            "rows": self.rows,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "relabelled": self.relabelled,
            "platforms": dict(self.platforms),
            "fans_added": self.fans_added,
            "fans_updated": self.fans_updated,
            "by_category": self.by_category,
            "bad_count": self.bad_count,
            "bad": [{"line": b.line, "reason": b.reason} for b in self.bad],
            "notes": list(self.notes),
            "totals": {c: str(v) for c, v in self.totals.items()},
            "error": self.error,
        }


# ---------------------------------------------------------------- Excel workbooks

ZIP_MAGIC = b"PK\x03\x04"  # .xlsx files are zip archives
XLSX_IN_MEMORY = 8 * 1024 * 1024  # a bigger workbook is spooled to a temporary file
#: What a workbook may unpack to: a few MB of zip can hold gigabytes of XML (a zip bomb), and
#: the shared-strings part is read whole.
XLSX_MAX_UNPACKED = 512 * 1024 * 1024
#: A zip that is no .xlsx: an .ods or .numbers sheet, or an archive.
NOT_A_WORKBOOK = (
    "it is a zip file, not a CSV file or an Excel workbook (.xlsx). If it is a spreadsheet, "
    "save it as CSV, then send that."
)


def _cell_text(value: object) -> str:
    """A worksheet cell as its CSV text: dates in ISO form (a date without a time of day as a
    date), numbers as written, empty cells empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if hasattr(value, "isoformat"):  # date, time
        return str(value.isoformat())
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def xlsx_as_csv(chunks: Iterable[bytes], size: int = READ_CHUNK) -> Iterator[bytes]:
    """The active worksheet of an Excel workbook (.xlsx, read whole: a zip is read from its
    end) as UTF-8 CSV, ``size`` bytes at a time. Cell values as Excel shows them (``data_only``:
    a formula's last computed result); ImportProblem for a zip that is no workbook."""
    from openpyxl import load_workbook  # imported on the first workbook: a heavy module
    from openpyxl.utils.exceptions import InvalidFileException

    with tempfile.SpooledTemporaryFile(max_size=XLSX_IN_MEMORY) as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        try:
            with zipfile.ZipFile(spool) as archive:
                unpacked = sum(member.file_size for member in archive.infolist())
            if unpacked > XLSX_MAX_UNPACKED:
                raise ImportProblem(
                    f"the workbook unpacks to {unpacked / 2**20:,.1f} MB, more than I read "
                    f"({XLSX_MAX_UNPACKED / 2**20:,.0f} MB). Save it as CSV, then send that."
                )
            spool.seek(0)
            book = load_workbook(spool, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
            raise ImportProblem(NOT_A_WORKBOOK) from None
        try:
            sheet = book.active or book.worksheets[0]
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            for row in sheet.iter_rows(values_only=True):
                writer.writerow([_cell_text(v) for v in row])
                if text.tell() >= size:
                    yield text.getvalue().encode()
                    text.seek(0)
                    text.truncate()
            yield text.getvalue().encode()
        finally:
            book.close()


# ---------------------------------------------------------------- decoding


def sniff_encoding(head: bytes) -> tuple[str, str | None]:
    """``(codec, note)`` for a file starting with ``head``; ImportProblem for binary files."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", None
    if head.startswith(ZIP_MAGIC):  # an .xlsx is read before this (xlsx_as_csv)
        raise ImportProblem(NOT_A_WORKBOOK)
    if head.startswith(b"%PDF"):
        raise ImportProblem("it is a PDF, not a CSV. Download the CSV export instead.")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportProblem("it is an old Excel (.xls) file. Save it as CSV, then send that.")
    sample = head[:4096]
    if b"\x00" in sample:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        half = max(1, len(sample) // 2)
        if odd > half * 0.3 and even < half * 0.05:
            return "utf-16-le", None
        if even > half * 0.3 and odd < half * 0.05:
            return "utf-16-be", None
        raise ImportProblem("it is a binary file, not a CSV text file.")
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    if sample and controls > len(sample) * 0.02:
        raise ImportProblem("it is a binary file, not a CSV text file.")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        truncated = exc.reason == "unexpected end of data" and exc.start >= len(head) - 3
        if not truncated:
            return "cp1252", (
                "The file is not UTF-8: it was read as Windows-1252 (Western European). If "
                "names look wrong, export it again as UTF-8."
            )
    return "utf-8", None


_SURROGATES = re.compile("[\udc80-\udcff]+")


class _Decoder:
    """Incremental text from byte chunks; bad UTF-8 bytes are read as Windows-1252."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        errors = "surrogateescape" if codec.startswith("utf-8") else "replace"
        self._decoder = codecs.getincrementaldecoder(codec)(errors=errors)
        self.fixed_bytes = 0
        self.bytes_read = 0

    def _fix(self, match: re.Match[str]) -> str:
        raw = bytes(ord(c) - 0xDC00 for c in match.group(0))
        self.fixed_bytes += len(raw)
        return raw.decode("cp1252", errors="replace")

    def decode(self, chunk: bytes, final: bool = False) -> str:
        self.bytes_read += len(chunk)
        text = self._decoder.decode(chunk, final)
        if self.codec.startswith("utf-8") and not text.isascii() and _SURROGATES.search(text):
            text = _SURROGATES.sub(self._fix, text)
        if "\x00" in text:  # NUL bytes: the csv module keeps them, PostgreSQL refuses them
            text = text.replace("\x00", "")
        return text


def _lines(pieces: Iterator[str], mac: bool) -> Iterator[str]:
    """Lines with their ``\\n`` (the csv module joins quoted fields that span lines)."""
    rest = ""
    for piece in pieces:
        if mac:
            piece = piece.replace("\r\n", "\n").replace("\r", "\n")
        rest += piece
        start = 0
        while True:
            end = rest.find("\n", start)
            if end < 0:
                break
            yield rest[start : end + 1]
            start = end + 1
        rest = rest[start:]
    if rest:
        yield rest


# ---------------------------------------------------------------- headers


def normalise_header(raw: str) -> str:
    cleaned = raw.replace("\ufeff", "").strip().strip('"').lower()
    cleaned = cleaned.replace("&", " and ").replace("#", " number ").replace("@", " at ")
    return re.sub(r"[^0-9a-z]+", "_", cleaned).strip("_")


_DATE = [
    "date", "datetime", "date_time", "date_and_time", "timestamp", "time", "created",
    "created_at", "created_on", "created_date", "transaction_date", "payment_date", "paid_at",
    "paid_on", "day", "date_utc", "sent_at", "sent_on", "offer_date",
]  # fmt: skip
#: A time of day in a column of its own, beside the date ("Date, Time, Amount").
_TIME_OF_DAY = [
    "time", "time_utc", "time_of_day", "local_time", "transaction_time", "payment_time",
    "sent_time",
]  # fmt: skip
#: A platform column, per row (a combined export of several platforms).
_PLATFORM_COLUMN = ["platform", "platform_name", "site", "website", "network"]
SPECS: dict[str, dict[str, list[str]]] = {
    "earnings": {
        "date": _DATE,
        "time": _TIME_OF_DAY,
        "amount": [
            "net", "net_amount", "amount", "earnings", "net_earnings", "net_earning", "total",
            "sum", "value", "revenue", "income", "gross", "gross_amount", "price",
        ],
        "currency": ["currency", "currency_code", "cur", "ccy"],
        "category": [
            "category", "type", "transaction_type", "earning_type", "earnings_type", "kind",
            "source", "item", "description", "details", "desc",
        ],
        "fan": [
            "fan", "fan_handle", "fan_username", "handle", "username", "user_name", "user",
            "from", "from_user", "customer", "subscriber", "buyer", "sender", "fan_name", "name",
        ],
        "id": [
            "transaction_id", "txn_id", "transaction", "payment_id", "order_id", "reference",
            "reference_id", "ref", "id",
        ],
        "status": ["status", "payment_status", "transaction_status", "state"],
        # a description beside a category column: only read for the fan ("Tip from @jane")
        "description": ["description", "details", "desc", "memo"],
        # subtracted when the amount is gross (see GROSS_HEADERS)
        "fee": [
            "fee", "fees", "platform_fee", "platform_fees", "service_fee", "commission",
            "processing_fee", "fee_amount", "fees_amount",
        ],
        # where it was earned, per row (a combined export of several platforms)
        "platform": _PLATFORM_COLUMN,
    },
    "fans": {
        "handle": [
            "handle", "fan_handle", "username", "user_name", "user", "fan", "fan_username",
            "account", "profile", "at",
        ],
        "name": ["name", "display_name", "fan_name", "first_name", "full_name", "nickname"],
        "tier": ["tier", "level", "status", "segment", "rank", "group"],
        "total_spent": [
            "total_spent", "spent", "total_spend", "lifetime_spend", "lifetime_spent",
            "lifetime_value", "ltv", "amount_spent", "spend", "total", "total_earnings",
            "earnings", "revenue",
        ],
        "last_active": [
            "last_active", "last_seen", "last_activity", "last_online", "last_message",
            "last_purchase", "last_active_at", "last_seen_at", "last_active_date",
        ],
        # when the fan joined (a subscriber list's join date or first subscription)
        "first_seen": [
            "join_date", "joined", "joined_at", "joined_on", "date_joined", "join_time",
            "first_seen", "first_seen_at", "first_subscribed", "subscribed_since",
            "subscriber_since", "fan_since", "member_since", "subscription_start",
            "subscription_started", "subscription_start_date", "subscribed_at", "subscribed_on",
        ],
        "tags": ["tags", "tag", "labels", "label", "lists", "list"],
        "notes": ["notes", "note", "comment", "comments", "memo"],
        # a "Status" column is read as the tier above; its subscription words count here too
        "subscribed": [
            "subscription_status", "subscriber_status", "sub_status", "subscription_state",
            "subscription", "subscribed", "is_subscribed", "is_subscriber", "subscriber",
        ],
        # when the subscription ends (or ended): the status, where the file gives none
        "expires": [
            "subscription_end", "subscription_ends", "subscription_end_date",
            "subscription_ends_at", "subscription_expires", "expires", "expires_at", "expires_on",
            "expiry", "expiry_date", "expiration", "expiration_date", "sub_end", "ends_at",
            "end_date",
        ],
    },
    "offers": {
        "date": _DATE,
        "time": _TIME_OF_DAY,
        "price": ["price", "ppv_price", "offer_price", "unit_price", "cost", "amount"],
        "sent": [
            "sent", "offered", "offers", "recipients", "sent_to", "messages_sent", "delivered",
            "audience", "reach", "sends", "offered_to",
        ],
        "bought": [
            "bought", "purchased", "purchases", "sold", "sales", "unlocked", "unlocks", "buys",
            "buyers", "conversions", "paid", "unlocks_count",
        ],
        "kind": ["kind", "type", "offer_type", "offer", "product"],
        "currency": ["currency", "currency_code", "cur", "ccy"],
        "id": ["offer_id", "message_id", "id"],
        "platform": _PLATFORM_COLUMN,
    },
}  # fmt: skip
#: Header words that name a field when no alias matches exactly ("Net amount (USD)").
TOKENS: dict[str, dict[str, tuple[str, ...]]] = {
    "earnings": {"date": ("date",), "amount": ("net", "amount", "earnings")},
    "fans": {"handle": ("username", "handle"), "last_active": ("last",)},
    "offers": {"date": ("date",), "price": ("price",)},
}
REQUIRED = {
    "earnings": ("date", "amount"),
    "fans": ("handle",),
    "offers": ("date", "price", "sent", "bought"),
}
NAME_HINTS = {
    "fans": ("fan", "subscriber", "follower", "audience", "contacts"),
    "offers": ("offer", "ppv", "price", "pricing", "mass"),
    "earnings": ("earning", "transaction", "statement", "payout", "sales", "revenue", "income"),
}


#: Column names of an earnings breakdown with one amount column per category (a platform's
#: daily earnings: "Date, Subscriptions, Tips, Posts, Messages, Referrals, Streams, Total").
_CATEGORY_COLUMNS = {
    "subscriptions": "subscription", "subscription": "subscription", "subs": "subscription",
    "renewals": "subscription", "tips": "tip", "tip": "tip", "posts": "ppv", "paid_posts": "ppv",
    "ppv": "ppv", "ppvs": "ppv", "messages": "message", "paid_messages": "message",
    "referrals": "referral", "referral": "referral", "streams": "other", "live_streams": "other",
    "other": "other",
}  # fmt: skip
_AMOUNT_WORDS = frozenset({"amount", "earnings", "net", "gross", "revenue", "income"})


def category_columns(headers: list[str]) -> dict[int, str]:
    """Column index -> category, for columns that hold one category's amount ("Tips",
    "Paid messages (USD)", "Subscriptions net")."""
    found: dict[int, str] = {}
    for i, header in enumerate(headers):
        words = [
            w
            for w in normalise_header(header).split("_")
            if w and w not in _AMOUNT_WORDS and w.upper() not in CURRENCY_CODES
        ]
        category = _CATEGORY_COLUMNS.get("_".join(words))
        if category is not None:
            found[i] = category
    return found


def breakdown_columns(headers: list[str], columns: dict[str, int]) -> dict[int, str]:
    """The category columns of an earnings file that has one per category (at least two, a
    date column named as such, and no category or fan column); empty for any other file."""
    if "category" in columns or "fan" in columns or "date" not in columns:
        return {}
    if normalise_header(headers[columns["date"]]) not in _DATE:
        return {}  # "Last active date": a fan list with spend per category, not earnings
    # (a "Tips net" column may have been taken for the amount: it is a category all the same)
    used = {i for fld, i in columns.items() if fld != "amount"}
    found = {i: c for i, c in category_columns(headers).items() if i not in used}
    return found if len(found) >= 2 else {}


#: Amount headers that mean the money before the platform's fee: with a fee column beside
#: them (and no net column, which would have been taken first), the fee is subtracted.
GROSS_HEADERS = frozenset({"gross", "gross_amount", "amount", "price", "total", "sum", "value"})


def map_columns(headers: list[str], kind: str) -> dict[str, int]:
    """Field -> column index for ``kind`` (each column used once, aliases in priority order)."""
    norm = [normalise_header(h) for h in headers]
    found: dict[str, int] = {}
    used: set[int] = set()
    for fld, aliases in SPECS[kind].items():
        for alias in aliases:
            if alias in norm and norm.index(alias) not in used:
                found[fld] = norm.index(alias)
                used.add(found[fld])
                break
    for fld, words in TOKENS.get(kind, {}).items():
        if fld in found:
            continue
        for i, h in enumerate(norm):
            if i not in used and any(w in h.split("_") for w in words):
                found[fld] = i
                used.add(i)
                break
    return found


_HINT_ENDINGS = ("", "s", "es", "list", "lists")


def name_hints(name: str) -> list[str]:
    """The kinds a file name suggests, by whole word ("fans.csv", "ppv_offers.csv",
    "FanList.csv"), so platform names do not count ("fansly.csv", "onlyfans.csv")."""
    words = re.findall(r"[a-z]+", name.lower())
    return [
        kind
        for kind in KINDS
        if any(
            w.startswith(h) and w[len(h) :] in _HINT_ENDINGS
            for w in words
            for h in NAME_HINTS[kind]
        )
    ]


def detect_kind(headers: list[str], name: str) -> tuple[str, dict[str, int]] | None:
    maps = {kind: map_columns(headers, kind) for kind in KINDS}
    hinted = name_hints(name)
    complete = [k for k in KINDS if all(f in maps[k] for f in REQUIRED[k])]
    if "earnings" not in complete and breakdown_columns(headers, maps["earnings"]):
        complete.append("earnings")
    if "fans" in complete and len(maps["fans"]) < 2 and "fans" not in hinted:
        complete.remove("fans")  # a handle column alone does not make a fan list
    for kind in hinted:
        if kind in complete:
            return kind, maps[kind]
    if hinted and len(hinted) == 1:
        return None  # "earnings.csv" without an amount: say what is missing for earnings
    for kind in ("offers", "earnings", "fans"):
        if kind in complete:
            return kind, maps[kind]
    return None


def _missing_columns_message(headers: list[str], name: str) -> str:
    shown = ", ".join(h.strip() for h in headers if h.strip())[:300] or "none"
    kinds = name_hints(name) or list(KINDS)
    wants = {
        "earnings": "an earnings file needs a date and an amount column (currency, category "
        "and fan are optional)",
        "fans": "a fan list needs a handle or username column (name, tier, total spent, last "
        "active, tags, notes, subscription status are optional)",
        "offers": "an offers file needs date, price, sent and bought columns",
    }
    detail = "; ".join(wants[k] for k in kinds)
    missing = ""
    if len(kinds) == 1:
        got = map_columns(headers, kinds[0])
        lacking = [f for f in REQUIRED[kinds[0]] if f not in got]
        if lacking:
            missing = f"missing column{'s' * (len(lacking) > 1)}: {', '.join(lacking)}. "
    return f"I couldn't recognise its columns ({shown}). {missing}{detail.capitalize()}."


_TOTALS = frozenset({"total", "totals", "grand total", "subtotal", "sum", "summary", "overall"})


def is_totals_row(row: list[str]) -> bool:
    """A summary line under the data ("Total, 1,234.50"): its first filled cell says so."""
    first = next((c.strip() for c in row if c.strip()), "")
    return first.lower().rstrip(":").strip() in _TOTALS


def sniff_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# ---------------------------------------------------------------- values

_SIMPLE_NUMBER = re.compile(r"-?\d+(?:\.\d+)?\Z")
_CODE = re.compile(r"(?<![A-Za-z])([A-Za-z]{3})(?![A-Za-z])")
_SYMBOLS = (
    ("R$", "BRL"), ("CA$", "CAD"), ("C$", "CAD"), ("AU$", "AUD"), ("A$", "AUD"),
    ("NZ$", "NZD"), ("US$", "USD"), ("$", "USD"), ("€", "EUR"), ("£", "GBP"), ("¥", "JPY"),
    ("₹", "INR"), ("₽", "RUB"), ("₩", "KRW"), ("₺", "TRY"), ("zł", "PLN"), ("₱", "PHP"),
)  # fmt: skip
CURRENCY_CODES = frozenset(
    [
        "USD",
        "EUR",
        "GBP",
        "CAD",
        "AUD",
        "NZD",
        "JPY",
        "CHF",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "RON",
        "BGN",
        "BRL",
        "MXN",
        "ARS",
        "CLP",
        "COP",
        "INR",
        "ZAR",
        "SGD",
        "HKD",
        "KRW",
        "TRY",
        "RUB",
        "CNY",
        "TWD",
        "THB",
        "PHP",
        "IDR",
        "MYR",
        "ILS",
        "AED",
        "SAR",
        "UAH",
    ]
)


def parse_money(raw: str, comma_decimal: bool = False) -> tuple[Decimal, str | None]:
    """``(amount, currency or None)`` from text such as ``$1,234.50``, ``12,50 €``,
    ``(4.99)``, ``USD -3``. ValueError with a short reason otherwise."""
    s = raw.strip()
    if not s:
        raise ValueError("empty")
    if _SIMPLE_NUMBER.match(s):
        return Decimal(s), None
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    currency: str | None = None
    for symbol, code in _SYMBOLS:
        if symbol in s:
            currency = code
            s = s.replace(symbol, " ")
            break
    m = _CODE.search(s)
    if m:
        code = m.group(1).upper()
        if code not in CURRENCY_CODES:
            raise ValueError("not a number")
        currency = code
        s = s[: m.start()] + " " + s[m.end() :]
    s = s.replace("\u2212", "-").replace("\u00a0", "").replace("\u202f", "").replace("'", "")
    s = s.replace(" ", "")
    if s.startswith("+"):
        s = s[1:]
    if s.startswith("-"):
        negative, s = not negative, s[1:]
    elif s.endswith("-"):
        negative, s = not negative, s[:-1]
    if not s or not re.fullmatch(r"[\d.,]+", s) or not any(ch.isdigit() for ch in s):
        raise ValueError("not a number")
    if "," in s and "." in s:
        dec, thousands = (",", ".") if s.rfind(",") > s.rfind(".") else (".", ",")
        whole, _, frac = s.rpartition(dec)
        grouped = re.fullmatch(r"\d{1,3}(?:" + re.escape(thousands) + r"\d{3})*", whole)
        if dec in whole or not grouped or not frac.isdigit():
            raise ValueError("not a number")
        s = whole.replace(thousands, "") + "." + frac
    elif "," in s:
        if comma_decimal or not re.fullmatch(r"\d{1,3}(,\d{3})+", s):
            if s.count(",") > 1:
                raise ValueError("not a number")
            s = s.replace(",", ".")
        else:
            s = s.replace(",", "")
    elif s.count(".") > 1:
        if not re.fullmatch(r"\d{1,3}(\.\d{3})+", s):
            raise ValueError("not a number")
        s = s.replace(".", "")
    elif comma_decimal and re.fullmatch(r"\d{1,3}\.\d{3}", s):
        s = s.replace(".", "")
    try:
        value = Decimal(s)
    except InvalidOperation:
        raise ValueError("not a number") from None
    return (-value if negative else value), currency


def parse_count(raw: str) -> int:
    s = raw.strip().replace(",", "").replace("\u00a0", "").replace(" ", "")
    if not s:
        raise ValueError("empty")
    try:
        value = Decimal(s)
    except InvalidOperation:
        raise ValueError("not a whole number") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError("not a whole number")
    return int(value)


_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for m in names
}  # fmt: skip
_NUMERIC_DATE = re.compile(r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})")
_TIME = re.compile(
    r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*([ap]\.?m\.?)?"
    r"\s*(z|utc|gmt|(?:utc|gmt)?\s*[+-]\d{1,2}(?::?\d{2})?)?\s*$",
    re.IGNORECASE,
)


def numeric_date_parts(raw: str) -> tuple[int, int, str] | None:
    """For ``a/b/yyyy`` dates (not year-first): ``(a, b, separator)``."""
    m = _NUMERIC_DATE.match(raw.strip())
    if not m or len(m.group(1)) > 2:
        return None
    return int(m.group(1)), int(m.group(3)), m.group(2)


def decide_date_order(samples: Iterable[str]) -> tuple[str, bool]:
    """``("mdy" | "dmy", ambiguous)`` from a file's date strings: a first number above 12 means
    day first, a second above 12 means month first; ``.`` separators mean day first; otherwise
    month first (the order of US exports) and ``ambiguous``."""
    dots = numeric = 0
    for raw in samples:
        parts = numeric_date_parts(raw)
        if parts is None:
            continue
        numeric += 1
        a, b, sep = parts
        if a > 12 >= b:
            return "dmy", False
        if b > 12 >= a:
            return "mdy", False
        dots += sep == "."
    if dots:
        return "dmy", False
    return "mdy", numeric > 0


def _tz(raw: str | None) -> timezone | None:
    """The offset written after a time; None when there is none."""
    if not raw:
        return None
    s = raw.strip().lower().replace(" ", "")
    for prefix in ("utc", "gmt"):
        s = s.removeprefix(prefix)
    if s in ("", "z"):
        return UTC
    sign = -1 if s[0] == "-" else 1
    digits = s[1:].replace(":", "")
    hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    if hours > 14 or minutes > 59:
        raise ValueError("bad time zone")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _time(rest: str) -> tuple[int, int, int, timezone | None]:
    rest = rest.strip().lstrip(",T").strip()
    if rest.lower().startswith("at "):
        rest = rest[3:]
    if not rest:
        return 0, 0, 0, None
    m = _TIME.match(rest)
    if not m:
        raise ValueError("unreadable time")
    hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    ampm = (m.group(4) or "").lower().replace(".", "")
    if ampm:
        if not 1 <= hour <= 12:
            raise ValueError("bad hour")
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    return hour, minute, second, _tz(m.group(5))


def _year(raw: str) -> int:
    year = int(raw)
    if len(raw) <= 2:
        year += 2000
    return year


_AGO = re.compile(
    r"(?:last seen|last active|active|seen)?\s*(\d+|an?|one)\s*"
    r"(minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w|months?|mos?|years?|yrs?|y)\s+ago\.?"
)
_NOW_WORDS = {"now", "just now", "today", "online", "online now", "active now", "active today"}


def relative_moment(raw: str, now: datetime) -> datetime | None:
    """When "3 days ago", "an hour ago", "yesterday" or "online now" was, from ``now`` (the
    import: an export is read soon after it is made); None for anything else. For a fan's
    last-active or join date (a day is enough), never a transaction's time (its key)."""
    s = " ".join(raw.strip().lower().split())
    if s in _NOW_WORDS:
        return now
    if s in ("yesterday", "active yesterday", "last seen yesterday"):
        return now - timedelta(days=1)
    m = _AGO.fullmatch(s)
    if m is None:
        return None
    count = int(m.group(1)) if m.group(1).isdigit() else 1
    return now - timedelta(seconds=count * _unit_seconds(m.group(2)))


def _unit_seconds(unit: str) -> int:
    """Seconds in one of ``_AGO``'s units ("m" alone is minutes, "mo" months)."""
    if unit.startswith("mo"):
        return 30 * 86_400
    if unit == "m" or unit.startswith("mi"):
        return 60
    return {"h": 3600, "d": 86_400, "w": 7 * 86_400, "y": 365 * 86_400}[unit[0]]


def parse_datetime(raw: str, order: str = "mdy", zone: tzinfo = UTC) -> datetime:
    """A timezone-aware datetime; ValueError with a short reason. A time written with an
    offset (or a Unix timestamp) comes back in UTC; one without, as written, in ``zone`` (the
    account's clock). Either way ``wall_timestamp`` of the result is the same whatever ``zone``
    is: row keys stay stable when a creator sets a time zone after an import."""
    s = raw.strip()
    if not s:
        raise ValueError("empty")
    if s[4:5] == "-" and s[:4].isdigit():
        try:
            value = datetime.fromisoformat(s if s[-4:] != " UTC" else s[:-4] + "+00:00")
        except ValueError:
            value = None
        if value is not None:
            if value.tzinfo is None:
                return value.replace(tzinfo=zone)
            return value.astimezone(UTC)
    if s.isdigit() and len(s) in (10, 13):
        seconds = int(s) / (1000 if len(s) == 13 else 1)
        return datetime.fromtimestamp(seconds, UTC)
    try:
        m = _NUMERIC_DATE.match(s)
        if m:
            a, b, c = m.group(1), m.group(3), m.group(4)
            if len(a) == 4:
                year, month, day = int(a), int(b), int(c)
            elif order == "dmy":
                day, month, year = int(a), int(b), _year(c)
            else:
                month, day, year = int(a), int(b), _year(c)
            hour, minute, second, tz = _time(s[m.end() :])
        else:
            time_at = re.search(r"\d{1,2}:\d{2}", s)
            date_part = s[: time_at.start()] if time_at else s
            words = re.findall(r"[A-Za-z]+", date_part)
            months = [_MONTHS[w.lower()] for w in words if w.lower() in _MONTHS]
            numbers = re.findall(r"\d+", date_part)
            if len(months) != 1 or len(numbers) != 2:
                raise ValueError("unreadable date")
            month = months[0]
            years = [n for n in numbers if len(n) == 4]
            if len(years) != 1:
                raise ValueError("unreadable date")
            year = int(years[0])
            day = int(next(n for n in numbers if n != years[0] or numbers.count(n) > 1))
            hour, minute, second, tz = _time(s[time_at.start() :] if time_at else "")
        local = datetime(year, month, day, hour, minute, second, tzinfo=tz or zone)
    except (ValueError, OverflowError, StopIteration) as exc:
        if "month must be" in str(exc) and order == "mdy":
            raise ValueError("not a valid month/day date (the file uses MM/DD)") from None
        if "month must be" in str(exc):
            raise ValueError("not a valid day/month date (the file uses DD/MM)") from None
        raise ValueError("not a date I can read") from None
    return local if tz is None else local.astimezone(UTC)


def wall_timestamp(when: datetime) -> float:
    """A ``parse_datetime`` result as written in the export, in Unix seconds (a time without an
    offset read as if UTC): what row keys are made of, so they do not depend on the account's
    time zone."""
    return (when if when.tzinfo is UTC else when.replace(tzinfo=UTC)).timestamp()


def normalise_category(raw: str) -> str | None:
    """One of CATEGORIES, or None when the text names none of them."""
    s = raw.strip().lower()
    if not s:
        return None
    if s in CATEGORIES:
        return s
    rules = (
        ("referral", ("referr", "affiliate")),
        ("tip", ("tip", "gift", "donation")),
        ("subscription", ("subscri", "renew", "recurring", "rebill", "membership")),
        ("ppv", ("ppv", "pay per view", "pay-per-view")),
        ("message", ("message", "chat", "dm", "direct")),
        ("ppv", ("post", "unlock", "purchase", "bundle")),
    )
    for category, words in rules:
        if any(w in s for w in words):
            return category
    if is_reversal(s):
        return "other"  # a refund of nothing more specific
    return None


_REVERSALS = ("refund", "chargeback", "charge back", "charged back", "reversal", "reversed")


def is_reversal(text: str) -> bool:
    """A category or description naming money going back ("Refund", "Tip chargeback")."""
    s = text.lower()
    return any(w in s for w in _REVERSALS)


def normalise_offer_kind(raw: str) -> str | None:
    s = raw.strip().lower()
    if not s:
        return "ppv"
    if s in OFFER_KINDS:
        return s
    if any(w in s for w in ("bundle", "package", "pack")):
        return "bundle"
    if any(w in s for w in ("subscri", "renew", "membership")):
        return "subscription"
    if any(w in s for w in ("ppv", "pay", "message", "post", "unlock", "mass")):
        return "ppv"
    return None


_TIER_ALIASES = {
    "new": "new", "newbie": "new", "fresh": "new", "trial": "new",
    "regular": "regular", "standard": "regular", "normal": "regular", "fan": "regular",
    "member": "regular", "basic": "regular",
    "vip": "vip", "v.i.p.": "vip", "gold": "vip", "premium": "vip", "loyal": "vip",
    "whale": "whale", "whales": "whale", "top": "whale", "top spender": "whale",
    "big spender": "whale", "platinum": "whale", "diamond": "whale",
}  # fmt: skip


def normalise_tier(raw: str) -> str | None:
    return _TIER_ALIASES.get(raw.strip().lower())


def split_tags(raw: str) -> list[str]:
    tags: dict[str, None] = {}
    for part in re.split(r"[,;|#]", raw):
        tag = re.sub(r"\s+", "-", part.strip().lower())
        if tag:
            tags.setdefault(tag[:40], None)
    return list(tags)


def clean_fan(raw: str) -> str:
    handle = normalise_handle(raw)
    if handle in {"-", "n/a", "na", "none", "null", "anonymous", "unknown"}:
        return ""
    return handle[:255]


# ---------------------------------------------------------------- rows


# How far past "now" a date may lie (time zones, an export's clock) before it is "in the future".
FUTURE_SLACK = timedelta(days=2)


class _RowError(Exception):
    pass


class _NotEarned(Exception):
    """A row whose status says the money never arrived or went back (refunded, failed...)."""

    def __init__(self, row_key: str, platform: str) -> None:
        super().__init__(row_key)
        self.row_key = row_key
        self.platform = platform


# Statuses of rows that are not earnings: money that went back (is_reversal) or never came.
# Any other status counts (complete, paid, pending...); an unrecognised one is counted and
# mentioned in the report.
_NOT_PAID = ("fail", "declin", "cancel", "void", "reject", "disput", "returned")
_EARNED = (
    "complete", "paid", "success", "succeeded", "settled", "available", "pending", "processing",
    "approved", "cleared", "done", "ok", "captured", "confirmed", "received", "active",
)  # fmt: skip


def earned_status(raw: str) -> bool | None:
    """True when a transaction with this status counts as earnings, False when it does not
    (refunded, charged back, failed...), None when the status is not one I know."""
    s = raw.strip().lower()
    if not s:
        return True
    if is_reversal(s) or any(w in s for w in _NOT_PAID):
        return False
    if any(s.startswith(w) for w in _EARNED):
        return True
    return None


_FROM = re.compile(r"\s+from\s+(.+)$", re.IGNORECASE)
_HANDLE_IN_PARENS = re.compile(r"\(@?([\w.]+)\)")
# One word that is clearly a handle: "@jane", or with a digit or underscore ("u123456",
# "jane_doe"); a plain word ("from referrals", "from Jane") is not taken for one.
_SINGLE_HANDLE = re.compile(r"@[\w.]+|(?=[\w.]*[\d_])[\w.]+")


def split_description(raw: str) -> tuple[str, str]:
    """``("Tip", "janedoe")`` from an export's description such as "Tip from Jane (@janedoe)";
    the fan part is empty when the text names no handle."""
    found = _FROM.search(raw)
    if found is None:
        return raw, ""
    who = found.group(1).strip()
    in_parens = _HANDLE_IN_PARENS.search(who)
    if in_parens is not None:
        handle = in_parens.group(1)
    elif _SINGLE_HANDLE.fullmatch(who):
        handle = who
    else:
        handle = ""
    return raw[: found.start()], handle


#: Platform names found inside a file name or a sentence ("onlyfans_statement_2026.csv", "my
#: fansly earnings"): whole names only. Short aliases ("OF", "IG", "X") count only as the whole
#: text, since inside a sentence they are ordinary words ("statement of earnings").
_PLATFORM_WORDS = {
    "onlyfans": "onlyfans", "fansly": "fansly", "instagram": "instagram", "insta": "instagram",
    "tiktok": "tiktok", "twitter": "x",
}  # fmt: skip


def platform_in_text(text: str) -> str | None:
    """The platform a file name or a chat caption names (a ``core.vocab`` platform slug)."""
    whole = re.sub(r"\.(csv|txt|tsv)$", "", text.strip(), flags=re.IGNORECASE)
    if 0 < len(whole) <= 20 and (slug := vocab.normalise("platforms", whole)):
        return slug
    words = re.findall(r"[a-z]+", text.lower())
    for i, word in enumerate(words):
        pair = word + words[i + 1] if i + 1 < len(words) else ""
        for candidate in (word, pair):
            if candidate in _PLATFORM_WORDS:
                return _PLATFORM_WORDS[candidate]
    return None


_FIELDS = (
    "date", "amount", "price", "currency", "category", "fan", "id", "sent", "bought", "kind",
    "status", "description", "fee", "time", "platform",
)  # fmt: skip
_CACHE_LIMIT = 50_000


@dataclass
class _Context:
    kind: str
    columns: dict[str, int]
    width: int
    comma_decimal: bool
    default_currency: str
    header_currency: str | None
    order: str
    now: datetime
    zone: tzinfo = UTC  # the account's clock: times without an offset are read in it
    zone_set: bool = False  # the account has chosen a time zone
    offsets: dict[int, int] = field(default_factory=dict)  # written UTC offset (min) -> rows
    sampled: int = 0  # dates looked at for their offset (the first _OFFSET_SAMPLE)
    seen: dict[bytes, int] = field(default_factory=dict)  # content digest -> occurrences
    ids: dict[str, int] = field(default_factory=dict)  # external id -> first line
    warnings: dict[str, list[int]] = field(default_factory=dict)
    warn_count: dict[str, int] = field(default_factory=dict)
    categories: dict[str, str | None] = field(default_factory=dict)  # raw -> normalised
    fans: dict[str, str] = field(default_factory=dict)  # raw -> handle
    currencies: dict[str, str] = field(default_factory=dict)  # raw -> code
    # column -> category, for an earnings breakdown (breakdown_columns)
    breakdown: dict[int, str] = field(default_factory=dict)
    platform: str = ""  # the file's platform (said with the file, or in its name), "" unknown
    platforms: dict[str, str] = field(default_factory=dict)  # raw -> slug (a platform column)
    platform_rows: dict[str, int] = field(default_factory=dict)  # slug -> transactions

    def __post_init__(self) -> None:
        self.future = self.now + FUTURE_SLACK
        ix = {f: self.columns.get(f, -1) for f in _FIELDS}
        self.ix_date, self.ix_amount, self.ix_price = ix["date"], ix["amount"], ix["price"]
        self.ix_currency, self.ix_category, self.ix_fan = ix["currency"], ix["category"], ix["fan"]
        self.ix_id, self.ix_sent, self.ix_bought = ix["id"], ix["sent"], ix["bought"]
        self.ix_kind, self.ix_status = ix["kind"], ix["status"]
        self.ix_description, self.ix_fee = ix["description"], ix["fee"]
        self.ix_time, self.ix_platform = ix["time"], ix["platform"]

    def platform_of(self, row: list[str], count: bool = True) -> str:
        """The row's platform column, else the file's platform; counted for the report."""
        i = self.ix_platform
        if i < 0:  # no platform column: the file's, counted once at the end
            return self.platform
        raw = row[i].strip() if i < len(row) else ""
        slug = self.platform
        if raw:
            slug = self.platforms.get(raw, "")
            if raw not in self.platforms:
                slug = self.platforms[raw] = earnings_platform(raw) or self.platform
        if count:
            self.platform_rows[slug] = self.platform_rows.get(slug, 0) + 1
        return slug

    def warn(self, key: str, line: int) -> None:
        self.warn_count[key] = self.warn_count.get(key, 0) + 1
        lines = self.warnings.setdefault(key, [])
        if len(lines) < 3:
            lines.append(line)

    def cell(self, row: list[str], fld: str) -> str:
        i = self.columns.get(fld)
        if i is None or i >= len(row):
            return ""
        return row[i].strip()

    def when(self, raw: str, what: str = "date") -> datetime:
        if not raw:
            raise _RowError(f"missing {what}")
        try:
            value = parse_datetime(raw, self.order, self.zone)
        except ValueError as exc:
            raise _RowError(f"{what} “{raw[:40]}” is {exc}") from None
        if value.year < 2000:
            raise _RowError(f"{what} “{raw[:40]}” is before 2000")
        if value > self.future:
            raise _RowError(f"{what} “{raw[:40]}” is in the future")
        if not self.zone_set and self.sampled < _OFFSET_SAMPLE:  # the export's own clock
            self.sampled += 1
            written = _TIME.search(raw)
            try:
                offset = _tz(written.group(5)) if written and written.group(5) else None
            except ValueError:
                offset = None
            if offset is not None:
                minutes = int(offset.utcoffset(None).total_seconds() // 60)
                self.offsets[minutes] = self.offsets.get(minutes, 0) + 1
        return value

    def moment(self, row: list[str]) -> datetime:
        """The row's date, with the time of day from a column of its own when the file has
        one and the date cell gives none."""
        raw = self.cell(row, "date")
        if self.ix_time >= 0 and raw and ":" not in raw:
            clock = self.cell(row, "time")
            if clock:
                raw = f"{raw} {clock}"
        return self.when(raw)

    def local(self, when: datetime) -> datetime:
        """``when`` on the account's clock: the stored day and hour of a transaction."""
        return when if when.tzinfo is self.zone else when.astimezone(self.zone)

    def money(self, raw: str, what: str) -> tuple[Decimal, str]:
        if not raw:
            raise _RowError(f"missing {what}")
        if _SIMPLE_NUMBER.match(raw):
            value, currency = Decimal(raw), None
        else:
            try:
                value, currency = parse_money(raw, self.comma_decimal)
            except ValueError:
                raise _RowError(f"{what} “{raw[:40]}” is not a number") from None
        if not value.is_finite() or abs(value) > MAX_AMOUNT:
            raise _RowError(f"{what} “{raw[:40]}” is too large")
        return value.quantize(_CENT), currency or ""

    def currency(self, raw: str, from_amount: str) -> str:
        if raw:
            code = self.currencies.get(raw)
            if code is None:
                upper = raw.upper()
                if re.fullmatch(r"[A-Z]{3}", upper):
                    code = upper
                else:
                    symbol = dict(_SYMBOLS).get(upper) or dict(_SYMBOLS).get(raw)
                    if symbol is None:
                        raise _RowError(f"currency “{raw[:20]}” is not a currency code")
                    code = symbol
                if len(self.currencies) < _CACHE_LIMIT:
                    self.currencies[raw] = code
            return code
        return from_amount or self.header_currency or self.default_currency

    def category(self, raw: str, line: int) -> str:
        try:
            category = self.categories[raw]
        except KeyError:
            category = normalise_category(raw)
            if len(self.categories) < _CACHE_LIMIT:
                self.categories[raw] = category
        if category is None:
            if raw:
                self.warn(f"unknown category “{raw[:30]}” counted as other", line)
            return "other"
        return category

    def earned(self, raw: str, line: int) -> bool:
        earned = earned_status(raw)
        if earned is None:
            self.warn(f"unknown status “{raw[:30]}” counted as paid", line)
            return True
        if not earned:
            self.warn("refunded, charged back or failed: not counted", line)
        return earned

    def fan(self, raw: str) -> str:
        handle = self.fans.get(raw)
        if handle is None:
            handle = clean_fan(raw)
            if len(self.fans) < _CACHE_LIMIT:
                self.fans[raw] = handle
        return handle

    def key(self, stamp: float, content: str) -> str:
        """A row key: the time as written (``wall_timestamp``, in hex seconds, so keys of an
        export sorted by time are nearly sequential and the unique index stays cache-friendly)
        + a digest of the content and of its occurrence number among identical rows of this
        file."""
        digest = hashlib.blake2b(content.encode(), digest_size=16).digest()
        n = self.seen.get(digest, 0)
        self.seen[digest] = n + 1
        if n:
            digest = hashlib.blake2b(digest + f"#{n}".encode(), digest_size=16).digest()
        return f"{max(0, int(stamp)):010x}{digest.hex()[:22]}"

    def external(self, row: list[str], line: int) -> str:
        i = self.ix_id
        ext = row[i].strip()[:128] if 0 <= i < len(row) else ""
        if ext:
            first = self.ids.get(ext)
            if first is not None:
                raise _RowError(f"transaction id “{ext[:40]}” appears twice (also line {first})")
            self.ids[ext] = line
        return ext


_CENT = Decimal("0.01")


#: Dates of a file looked at for the UTC offset they are written at (a sample is enough).
_OFFSET_SAMPLE = 1000


def _zone_suggestion(ctx: _Context, rows: int) -> str | None:
    """When the account has no time zone and most of the file's times carry one offset other
    than UTC's (in the first dates of the file): the export's clock, likely the creator's. A
    note suggesting /timezone."""
    if ctx.zone_set or not ctx.offsets or not rows:
        return None
    minutes, count = max(ctx.offsets.items(), key=lambda item: item[1])
    if minutes == 0 or count * 2 < min(rows, ctx.sampled):
        return None
    name = offset_name(minutes)
    return (
        f"Times in this file are written at {name}. If that is your clock, /timezone {name} "
        "(or your city) counts /stats days and hours on it; they are UTC until you set one."
    )


def _earning(ctx: _Context, row: list[str], line: int) -> Transaction:
    n = len(row)
    when = ctx.moment(row)
    i = ctx.ix_amount
    amount, from_amount = ctx.money(row[i].strip() if i < n else "", "amount")
    i = ctx.ix_fee
    if 0 <= i < n and row[i].strip():
        fee = abs(ctx.money(row[i].strip(), "fee")[0])
        amount = amount - fee if amount >= 0 else amount + fee  # a refund's fee comes back
    i = ctx.ix_currency
    currency = ctx.currency(row[i].strip() if 0 <= i < n else "", from_amount)
    i = ctx.ix_category
    # An export's description ("Tip from Jane (@janedoe)"): the category is read from the part
    # before "from" (a fan called Tipsy is no tip), and the fan from the rest when the file
    # has no fan column.
    described, named = split_description(row[i].strip()) if 0 <= i < n else ("", "")
    i = ctx.ix_description
    if 0 <= i < n:
        named = split_description(row[i].strip())[1]
    i = ctx.ix_fan
    fan = ctx.fan(named if i < 0 else row[i] if i < n else "")
    category = ctx.category(described.strip(), line)
    if amount > 0 and described and is_reversal(described):
        amount = -amount  # a refund row listed with a positive amount takes money back
    ext = ctx.external(row, line) if ctx.ix_id >= 0 else ""
    if ext:
        key = hashlib.blake2b(f"id|{ext}".encode(), digest_size=16).hexdigest()
    else:
        stamp = wall_timestamp(when)
        key = ctx.key(stamp, f"tx|{stamp}|{amount}|{currency}|{category}|{fan}")
    i = ctx.ix_status
    if i >= 0 and not ctx.earned(row[i].strip() if i < n else "", line):
        raise _NotEarned(key, ctx.platform_of(row, count=False))
    return Transaction(
        key, ctx.local(when), amount, currency, category, fan, ext, platform=ctx.platform_of(row)
    )


def _earnings_breakdown(ctx: _Context, row: list[str], line: int) -> list[Transaction]:
    """One row of a per-category breakdown: a transaction per category with money in it
    (keyed as a one-category row of the same day, amount and currency would be)."""
    when = ctx.moment(row)
    currency_raw = ctx.cell(row, "currency")
    platform = ctx.platform_of(row)
    out: list[Transaction] = []
    parts = Decimal("0")
    for i, category in ctx.breakdown.items():
        raw = row[i].strip() if i < len(row) else ""
        if not raw:
            continue
        amount, from_amount = ctx.money(raw, f"{category} amount")
        if not amount:
            continue
        currency = ctx.currency(currency_raw, from_amount)
        parts += amount
        stamp = wall_timestamp(when)
        key = ctx.key(stamp, f"tx|{stamp}|{amount}|{currency}|{category}|")
        out.append(
            Transaction(
                key, ctx.local(when), amount, currency, category, aggregate=True, platform=platform
            )
        )
    total_raw = ctx.cell(row, "amount") if ctx.ix_amount not in ctx.breakdown else ""
    if total_raw:
        total, _ = ctx.money(total_raw, "total")
        if abs(total - parts) > _CENT * len(ctx.breakdown):  # each part may round by a cent
            ctx.warn("the categories do not add up to the total: the categories were kept", line)
    return out


def _offer(ctx: _Context, row: list[str], line: int) -> OfferRecord | list[OfferRecord]:
    when = ctx.moment(row)
    price_raw = ctx.cell(row, "price")
    if price_raw.lower() == "free":
        price, from_amount = Decimal("0"), ""
    else:
        price, from_amount = ctx.money(price_raw, "price")
    if price == 0:  # a mass message's export lists free messages too: not priced offers
        ctx.warn("free messages are not priced offers: skipped", line)
        return []
    if price < 0:
        raise _RowError(f"price {price} is not above zero")
    currency = ctx.currency(ctx.cell(row, "currency"), from_amount)
    counts: dict[str, int] = {}
    for fld in ("sent", "bought"):
        raw = ctx.cell(row, fld)
        if not raw:
            raise _RowError(f"missing {fld}")
        try:
            counts[fld] = parse_count(raw)
        except ValueError:
            raise _RowError(f"{fld} “{raw[:40]}” is not a whole number") from None
        if counts[fld] < 0:
            raise _RowError(f"{fld} is negative")
        if counts[fld] > MAX_COUNT:
            raise _RowError(f"{fld} “{raw[:40]}” is too large")
    if counts["bought"] > counts["sent"]:
        raise _RowError(f"bought ({counts['bought']}) is more than sent ({counts['sent']})")
    raw_kind = ctx.cell(row, "kind")
    kind = normalise_offer_kind(raw_kind)
    if kind is None:
        raise _RowError(f"unknown offer type “{raw_kind[:30]}” (use ppv, subscription or bundle)")
    ext = ctx.external(row, line)
    if ext:
        key = hashlib.blake2b(f"offer|{ext}".encode(), digest_size=16).hexdigest()
    else:
        stamp = wall_timestamp(when)
        key = ctx.key(
            stamp, f"offer|{stamp}|{kind}|{price}|{currency}|{counts['sent']}|{counts['bought']}"
        )
    return OfferRecord(
        row_key=key,
        offered_at=when,
        kind=kind,
        price=price,
        currency=currency,
        sent=counts["sent"],
        bought=counts["bought"],
        source="import",
        platform=ctx.platform_of(row),
    )


def _fan(ctx: _Context, row: list[str], line: int) -> FanPatch:
    handle = clean_fan(ctx.cell(row, "handle"))
    if not handle:
        raise _RowError("missing handle")
    values: dict[str, object] = {}
    name = ctx.cell(row, "name")
    if name:
        values["name"] = name[:80]
    status_raw = ctx.cell(row, "subscribed")
    if status_raw:
        status = subscription_status(status_raw, yes_no=True)
        if status is None:
            ctx.warn(f"unknown subscription status “{status_raw[:30]}” left as it was", line)
        else:
            values["subscribed"] = status
    tier_raw = ctx.cell(row, "tier")
    if tier_raw:
        tier = normalise_tier(tier_raw)
        status = subscription_status(tier_raw)
        if tier is not None:
            values["tier"] = tier
        elif status is not None:  # "Status: Active / Expired" in a platform's subscriber list
            values.setdefault("subscribed", status)
        else:
            ctx.warn(f"unknown tier “{tier_raw[:30]}” left as it was (new fans: regular)", line)
    ends_raw = ctx.cell(row, "expires")
    if ends_raw and "subscribed" not in values:
        try:
            ends = ctx.local(parse_datetime(ends_raw, ctx.order, ctx.zone)).date()
            # ending today: still subscribed
            values["subscribed"] = ends >= ctx.local(ctx.now).date()
        except ValueError:
            ctx.warn("subscription end date not a date: subscription status left as it was", line)
    spent_raw = ctx.cell(row, "total_spent")
    if spent_raw:  # like the dates: a figure that cannot be read costs the figure, not the fan
        try:
            spent, _ = ctx.money(spent_raw, "total spent")
        except _RowError:
            spent = Decimal(-1)
        if spent < 0:
            ctx.warn("total spent not an amount of zero or more, left as it was", line)
        else:
            values["total_spent"] = spent
    for field_, what in (("last_active", "last active date"), ("first_seen", "join date")):
        day = _fan_day(ctx, ctx.cell(row, field_), what, line)
        if day is not None:
            values[field_] = day
    tags_raw = ctx.cell(row, "tags")
    if tags_raw:
        values["tags"] = split_tags(tags_raw)
    notes = ctx.cell(row, "notes")
    if notes:
        values["notes"] = notes[:2000]
    return FanPatch(handle=handle, values=values)


def _fan_day(ctx: _Context, raw: str, what: str, line: int) -> date | None:
    """A fan's last-active or join day: a date, or "3 days ago" as a UI shows it; one that
    cannot be read is left as it was (the fan is kept, the report says so)."""
    if not raw:
        return None
    moment = relative_moment(raw, ctx.now)
    if moment is None:
        try:
            moment = ctx.when(raw, what)
        except _RowError:
            ctx.warn(f"{what} not a date I can read, left as it was", line)
            return None
    return ctx.local(moment).date()


_BUILDERS: dict[str, Callable[[_Context, list[str], int], Any]] = {
    "earnings": _earning,
    "offers": _offer,
    "fans": _fan,
}


# ---------------------------------------------------------------- the importer


def chunks_of(data: bytes, size: int = READ_CHUNK) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield bytes(view[start : start + size])


def file_chunks(path: Path, size: int = READ_CHUNK) -> Iterator[bytes]:
    """A file read lazily, chunk by chunk (the CLI and background jobs stream from disk)."""
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


async def import_file(
    importer: CsvImporter,
    account_id: int,
    path: Path,
    err: TextIO | None = None,
    platform: str | None = None,
) -> ImportReport:
    """``huntaze import FILE``: stream a file from disk; progress lines go to ``err``."""

    async def show(p: ImportProgress) -> None:
        if err is None:
            return
        share = f" ({p.fraction:.0%})" if p.fraction is not None else ""
        end = "\n" if p.done else "\r"
        err.write(f"{p.rows:,} rows read, {p.added:,} new{share}{end}")
        err.flush()

    size = (await asyncio.to_thread(path.stat)).st_size
    return await importer.import_stream(
        account_id,
        path.name,
        file_chunks(path),
        total_bytes=size,
        progress=show,
        platform=platform,
    )


class CsvImporter:
    """``Importer`` over an ``AnalyticsStore`` (``SqlStore`` is one)."""

    def __init__(
        self,
        store: AnalyticsStore,
        clock: Clock,
        *,
        batch_size: int = 2000,
        default_currency: str = "USD",
    ) -> None:
        self.store = store
        self.clock = clock
        self.batch_size = batch_size
        self.default_currency = default_currency

    async def import_csv(
        self,
        account_id: int,
        name: str,
        data: bytes,
        progress: ProgressCallback | None = None,
        platform: str | None = None,
    ) -> str:
        report = await self.import_stream(
            account_id,
            name,
            chunks_of(data),
            total_bytes=len(data),
            progress=progress,
            platform=platform,
        )
        return report.text()

    async def import_stream(
        self,
        account_id: int,
        name: str,
        chunks: Iterable[bytes],
        *,
        total_bytes: int | None = None,
        progress: ProgressCallback | None = None,
        platform: str | None = None,
    ) -> ImportReport:
        """Import one CSV read chunk by chunk; never raises for a bad file (see ``error``).
        ``platform``: where the earnings were made, as the creator said it (a caption, the
        CLI's ``--platform``); else the file name may say, or a platform column per row."""
        report = ImportReport(name=name)
        if platform:
            report.platform, report.platform_from = earnings_platform(platform), "as you said"
        elif found := platform_in_text(name):
            report.platform, report.platform_from = found, "from the file name"
        report.import_id = await self.store.imports.begin(account_id, name, report.platform)
        stream = iter(chunks)
        first = next(stream, b"")
        stream = itertools.chain([first], stream)
        if first.startswith(ZIP_MAGIC):  # an Excel workbook: its active sheet as CSV
            stream, total_bytes = xlsx_as_csv(stream), None
            report.notes.append("Read from the Excel workbook (the sheet it was saved open at).")
        try:
            await self._run(account_id, name, stream, total_bytes, progress, report)
        except ImportProblem as exc:
            report.error = str(exc)
        except ServiceUnavailable as exc:
            # Each batch is its own transaction: the ones written before the outage stay.
            done = report.added + report.updated + report.unchanged + report.removed
            if not done:
                raise
            raise ServiceUnavailable(
                f"The database went away while {escape_markup(name)} was being imported: "
                f"{done:,} rows were saved before it did, the rest were not. Send the file "
                "again in a minute; rows already saved are recognised and not counted twice."
            ) from exc
        await self.store.imports.finish(
            report.import_id, report.kind or "", report.added, report.fans_added, report.removed
        )
        if not (report.added or report.fans_added or report.removed):
            report.import_id = None  # forgotten: nothing to take back
        return report

    async def _run(
        self,
        account_id: int,
        name: str,
        chunks: Iterator[bytes],
        total_bytes: int | None,
        progress: ProgressCallback | None,
        report: ImportReport,
    ) -> None:
        head = b""
        for chunk in chunks:
            head += chunk
            if len(head) >= HEAD_BYTES:
                break
        if not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
            raise ImportProblem("the file is empty.")
        codec, note = sniff_encoding(head)
        report.encoding = codec
        if note:
            report.notes.append(note)
        decoder = _Decoder(codec)
        first_text = decoder.decode(head)
        mac = "\n" not in first_text and "\r" in first_text

        def pieces() -> Iterator[str]:
            yield first_text
            for chunk in chunks:
                yield decoder.decode(chunk)
            yield decoder.decode(b"", final=True)

        lines = _lines(pieces(), mac)
        first_lines: list[str] = []
        for line in lines:
            if line.strip():
                first_lines.append(line)
                break
        if not first_lines:
            raise ImportProblem("the file is empty.")
        delimiter = sniff_delimiter(first_lines[0])
        report.delimiter = delimiter

        def all_lines() -> Iterator[str]:
            yield from first_lines
            yield from lines

        reader = csv.reader(all_lines(), delimiter=delimiter, strict=False)
        headers: list[str] | None = None
        detected: tuple[str, dict[str, int]] | None = None
        candidates: list[list[str]] = []
        for _ in range(5):
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise ImportProblem(f"its first lines are not valid CSV ({exc}).") from None
            if not any(c.strip() for c in row):
                continue
            candidates.append(row)
            detected = detect_kind(row, name)
            if detected is not None:
                headers = row
                break
        if detected is None or headers is None:
            raise ImportProblem(_missing_columns_message(candidates[0] if candidates else [], name))
        if len(candidates) > 1:
            report.notes.append(f"Skipped {len(candidates) - 1} line(s) above the header row.")
        kind, columns = detected
        report.kind = kind
        breakdown = breakdown_columns(headers, columns) if kind == "earnings" else {}
        if "fee" in columns:
            gross = "amount" in columns and not breakdown
            if gross and normalise_header(headers[columns["amount"]]) in GROSS_HEADERS:
                report.notes.append(
                    f"Fees ({headers[columns['fee']].strip()[:40]}) were subtracted from "
                    f"{headers[columns['amount']].strip()[:40]}: the figures are what you earned."
                )
            else:
                del columns["fee"]  # the amount is net already (or there is none)
        if breakdown:
            report.by_category = True
            named = ", ".join(headers[i].strip() for i in breakdown)
            report.notes.append(
                f"Read as earnings by category ({named[:200]}): one entry per category and row."
            )
        header_currency = None
        if breakdown or "amount" in columns or "price" in columns:
            col = next(iter(breakdown), columns.get("amount", columns.get("price", 0)))
            for token in normalise_header(headers[col]).split("_"):
                if token.upper() in CURRENCY_CODES:
                    header_currency = token.upper()

        # Look ahead to decide the date order (MM/DD or DD/MM) from unambiguous dates.
        pending: list[tuple[int, list[str] | None, str | None]] = []
        for row_or_error in self._rows(reader):
            pending.append(row_or_error)
            if len(pending) >= DATE_LOOKAHEAD_ROWS:
                break
        order, ambiguous = "mdy", False
        date_field = "last_active" if kind == "fans" else "date"
        if date_field in columns:
            col = columns[date_field]
            samples = (r[col] for _, r, _ in pending if r is not None and col < len(r))
            order, ambiguous = decide_date_order(samples)
        zone_name = await account_timezone(self.store.profiles, account_id)
        zone = get_zone(zone_name)
        ctx = _Context(
            kind=kind,
            columns=columns,
            width=len(headers),
            comma_decimal=delimiter == ";",
            default_currency=self.default_currency,
            header_currency=header_currency,
            order=order,
            now=self.clock.now(),
            zone=zone,
            zone_set=bool(zone_name),
            breakdown=breakdown,
            platform=report.platform,
        )
        build = _earnings_breakdown if breakdown else _BUILDERS[kind]
        batch: list[Any] = []
        withdrawn: list[tuple[str, str]] = []  # refunded/failed transactions (key, platform)
        fans_named = False  # a fan column, or a description naming the fan ("Tip from @jane")

        async def flush(done: bool = False) -> None:
            if batch:
                await self._write(account_id, kind, batch, report)
                batch.clear()
            if withdrawn:
                report.removed += await self.store.earnings.remove(account_id, withdrawn)
                withdrawn.clear()
            if progress is not None:
                await progress(
                    ImportProgress(
                        name=name,
                        kind=kind,
                        rows=report.rows,
                        added=report.added,
                        bytes_read=decoder.bytes_read,
                        total_bytes=total_bytes,
                        done=done,
                    )
                )

        def rows() -> Iterator[tuple[int, list[str] | None, str | None]]:
            yield from pending
            yield from self._rows(reader)

        saw_ambiguous = False
        for line, row, error in rows():
            report.rows += 1
            if error is not None or row is None:
                self._bad(report, line, error or "unreadable row")
                continue
            if is_totals_row(row):
                ctx.warn("a totals row, not data: skipped", line)
                continue
            if len(row) > ctx.width and any(c.strip() for c in row[ctx.width :]):
                self._bad(
                    report,
                    line,
                    f"{len(row)} values but the header has {ctx.width} (a “{delimiter}” inside "
                    "an unquoted value?)",
                )
                continue
            try:
                record = build(ctx, row, line)
            except _RowError as exc:
                self._bad(report, line, str(exc))
                continue
            except _NotEarned as exc:
                withdrawn.append((exc.row_key, exc.platform))
                continue
            if ambiguous and not saw_ambiguous:
                saw_ambiguous = numeric_date_parts(ctx.cell(row, date_field)) is not None
            for one in record if isinstance(record, list) else [record]:
                if isinstance(one, Transaction):
                    report.totals[one.currency] = (
                        report.totals.get(one.currency, Decimal("0")) + one.amount
                    )
                    fans_named = fans_named or bool(one.fan_handle)
                batch.append(one)
            if len(batch) + len(withdrawn) >= self.batch_size:
                await flush()
        await flush(done=True)
        report.platforms = dict(ctx.platform_rows)
        if kind in ("earnings", "offers") and ctx.ix_platform < 0:
            stored = report.added + report.updated + report.unchanged + report.relabelled
            report.platforms = {ctx.platform: stored} if stored else {}
        if kind == "earnings" and ("fan" in columns or fans_named):
            await self.refresh_fans(account_id, zone, report)
        if saw_ambiguous:
            report.notes.append(
                "Dates such as 03/04/2026 were read as month/day (MM/DD/YYYY): nothing in the "
                "file says otherwise."
            )
        for reason, lines_ in ctx.warnings.items():
            count = ctx.warn_count[reason]
            where = ", ".join(str(n) for n in lines_) + ("…" if count > len(lines_) else "")
            report.notes.append(f"{count} row{'s' * (count > 1)}: {reason} (line {where}).")
        suggestion = _zone_suggestion(ctx, report.rows)
        if suggestion:
            report.notes.append(suggestion)
        if report.removed:
            report.notes.append(
                f"{report.removed:,} transaction{'s' * (report.removed != 1)} imported before "
                f"{'are' if report.removed != 1 else 'is'} now refunded, charged back or failed: "
                "removed from your earnings."
            )
        if decoder.fixed_bytes:
            report.notes.append(
                f"{decoder.fixed_bytes} byte(s) were not valid UTF-8 and were read as Windows-1252."
            )

    async def refresh_fans(self, account_id: int, zone: tzinfo, report: ImportReport) -> None:
        """Fans who paid join the fan list, so /fans and segments know whoever /stats counts.

        From all the account's earnings (not only this file): a fan the list does not have yet
        is added (tier regular); a fan's total spent (in the currency the fan list's money is
        in, ``EarningsRepository.currency``; refunds count), last-active date (the day of the
        last payment, on the account's clock) and platforms (where they paid) are raised to
        what the earnings show: a fan export's lifetime total, or a later activity date, knows
        more than the imported earnings. A total that is the earnings' own figure (what they
        added up to when an import last set it, kept as ``earnings_spent``) follows them down
        too, when a refund or a chargeback comes in later (or ``/imports undo`` took an import
        back). Fans new to the list carry ``report.import_id``."""
        spend = await self.store.earnings.fan_spend(account_id, None, None)
        if not spend:
            return
        main = await self.store.earnings.currency(account_id)
        paid: dict[str, dict[str, Any]] = {}
        for one in spend:
            seen = paid.setdefault(one.handle, {"total_spent": Decimal(0)})
            if one.currency == main:
                seen["total_spent"] = max(one.amount, Decimal(0))
            day = one.last_seen.astimezone(zone).date()
            seen["last_active"] = max(day, seen.get("last_active", day))
            seen["first_seen"] = one.first_seen.astimezone(zone).date()  # any currency's
        for handle, platforms in (await self.store.earnings.fan_platforms(account_id)).items():
            if handle in paid:
                paid[handle]["platforms"] = platforms
        known = await self.store.fan_lists.spending(account_id, list(paid))
        patches: list[FanPatch] = []
        for handle, seen in paid.items():
            if handle not in known:
                values = {**seen, "earnings_spent": seen["total_spent"]}
                patches.append(FanPatch(handle=handle, values=values))
                continue
            fan = known[handle]
            raised: dict[str, Any] = {}
            earned = seen["total_spent"]
            from_earnings = fan.earnings_spent is not None and fan.total_spent == fan.earnings_spent
            if earned > fan.total_spent or (from_earnings and earned != fan.total_spent):
                raised["total_spent"] = raised["earnings_spent"] = earned
            if fan.last_active is None or seen["last_active"] > fan.last_active:
                raised["last_active"] = seen["last_active"]
            if fan.first_seen is None or seen["first_seen"] < fan.first_seen:
                raised["first_seen"] = seen["first_seen"]
            if set(seen.get("platforms", ())) - set(fan.platforms):
                raised["platforms"] = sorted(set(fan.platforms) | set(seen["platforms"]))
            if raised:
                patches.append(FanPatch(handle=handle, values=raised))
        for start in range(0, len(patches), self.batch_size):
            added, updated = await self.store.fan_lists.upsert_many(
                account_id, patches[start : start + self.batch_size], report.import_id
            )
            report.fans_added += added
            report.fans_updated += updated

    @staticmethod
    def _rows(reader: Any) -> Iterator[tuple[int, list[str] | None, str | None]]:
        """``(line, row, None)`` or ``(line, None, reason)``; blank lines skipped."""
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, None, f"not valid CSV ({exc})"
                continue
            if not row or not any(c.strip() for c in row):
                continue
            yield start, row, None

    @staticmethod
    def _bad(report: ImportReport, line: int, reason: str) -> None:
        report.bad_count += 1
        if len(report.bad) < MAX_BAD_KEPT:
            report.bad.append(BadRow(line, reason))

    async def _write(
        self, account_id: int, kind: str, batch: list[Any], report: ImportReport
    ) -> None:
        if kind == "earnings":
            # Rows imported before move when read on another clock (the time zone changed).
            added, moved, relabelled = await self.store.earnings.add_many(
                account_id, batch, report.import_id
            )
            report.added += added
            report.updated += moved
            report.relabelled += relabelled
            report.unchanged += len(batch) - added - moved - relabelled
        elif kind == "offers":
            added, relabelled = await self.store.offers.add_many(
                account_id, batch, report.import_id
            )
            report.added += added
            report.relabelled += relabelled
            report.unchanged += len(batch) - added - relabelled
        else:
            added, updated = await self.store.fan_lists.upsert_many(
                account_id, batch, report.import_id
            )
            report.added += added
            report.updated += updated
            report.unchanged += len({p.handle for p in batch}) - added - updated


__all__ = [
    "CATEGORIES",
    "OFFER_KINDS",
    "BadRow",
    "CsvImporter",
    "ImportProblem",
    "ImportProgress",
    "ImportReport",
    "ProgressCallback",
    "chunks_of",
    "decide_date_order",
    "detect_kind",
    "file_chunks",
    "import_file",
    "map_columns",
    "normalise_category",
    "parse_datetime",
    "parse_money",
    "sniff_encoding",
    "wall_timestamp",
]
