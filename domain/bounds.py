"""What new input may say, beyond what stored facts hold: money within numeric(24, 6), in a
currency of three ASCII letters. Facts stored before these bounds keep what they hold, so
that history stays readable; only new input (PUT, import) is held to them."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints, WithJsonSchema

from domain.values import Money, number_only

# New money fits numeric(24, 6): below 10^18 in magnitude, at most 6 digits after the point.
AMOUNT_DIGITS = 18
AMOUNT_LIMIT = 10**AMOUNT_DIGITS
AMOUNT_SCALE = 6


def _bounded_money(value: Decimal) -> Decimal:
    if not value.is_finite() or abs(value) >= AMOUNT_LIMIT:
        raise ValueError(f"must be below 10^{AMOUNT_DIGITS} in magnitude")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -AMOUNT_SCALE:
        raise ValueError(f"may have at most {AMOUNT_SCALE} digits after the decimal point")
    return value


NewAmount = Annotated[
    Decimal,
    BeforeValidator(number_only),
    AfterValidator(_bounded_money),
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": -AMOUNT_LIMIT,
            "exclusiveMaximum": AMOUNT_LIMIT,
            "description": f"Exact decimal below 10^{AMOUNT_DIGITS} in magnitude, "
            f"at most {AMOUNT_SCALE} digits after the point.",
        }
    ),
]


class NewMoney(Money):
    """Money as new input gives it: within the bounds of NewAmount, in a currency of three
    ASCII letters (ISO 4217; upper-casing other letters can change their count: ß -> SS)."""

    amount: NewAmount
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_upper=True)]
