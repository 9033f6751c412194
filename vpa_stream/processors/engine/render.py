"""The one number formatter: what the input holds and what the explanation prints come from here (DOMAIN §6)."""

from __future__ import annotations


def price_decimals(price: float, fixed: int | None) -> int:
    """Decimals a price of this instrument is shown with: fixed by config, else by magnitude."""
    if fixed is not None:
        return fixed
    magnitude = abs(price)
    if magnitude >= 10:
        return 2
    if magnitude >= 1:
        return 4
    return 6


def ratio(value: float) -> float:
    """Ratios, fractions of range and ATR multiples are kept and shown at 2 dp."""
    return round(value, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}"


def fmt_price(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def fmt_volume(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}"
