"""The market-data catalog: Parquet bars per (frequency, order_book_id), instruments, calendars."""

from quantdesk.data.bar_source import CatalogBarSource
from quantdesk.data.catalog import Adjust, Catalog
from quantdesk.data.validation import ImportReport

__all__ = ["Adjust", "Catalog", "CatalogBarSource", "ImportReport"]
