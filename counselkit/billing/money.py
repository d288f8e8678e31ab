"""Money arithmetic: Decimal only, ROUND_HALF_UP to cents at the defined points, exact splitting."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal) -> Decimal:
    """Round to cents, half up (kaufmännische Rundung)."""
    if not isinstance(value, Decimal):
        raise TypeError(f"money must be Decimal, got {type(value).__name__}")
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def split_exact(total: Decimal, weights: dict[str, Decimal]) -> dict[str, Decimal]:
    """Split `total` (in cents) by `weights` so that the parts add up to `total` to the cent.

    Largest-remainder method: every part is first rounded down to the cent; the cents left over go one by one
    to the parts with the largest remainders (ties: in key order), so no part differs from its exact share by
    a cent or more and the sum is exact.
    """
    total = cents(total)
    weight_sum = sum(weights.values(), Decimal(0))
    if not weights or weight_sum <= 0:
        raise ValueError("cannot split among no one (all weights are zero)")
    exact = {key: total * w / weight_sum for key, w in weights.items()}
    floor = {key: value.quantize(CENT, rounding=ROUND_DOWN) for key, value in exact.items()}
    left = int((total - sum(floor.values(), Decimal(0))) / CENT)
    order = sorted(weights, key=lambda key: (-(exact[key] - floor[key]), key))
    for key in order[:left]:
        floor[key] += CENT
    assert sum(floor.values(), Decimal(0)) == total
    return floor


def de(amount: Decimal, currency: str = "") -> str:
    """German number format: 1.234,50 (with an optional currency after a space)."""
    text = f"{cents(amount):,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"{text} {currency}".rstrip() if currency else text


def de_number(value: Decimal) -> str:
    """A quantity or rate in German notation without trailing zeros: 19, 0,5, 12."""
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")
