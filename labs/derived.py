"""Values derived from other results in the same panel. Pure functions on Decimals in canonical units.

- Albumin-corrected calcium (Payne 1973): Ca + 0.8 × (4.0 − albumin), calcium in mg/dL, albumin in g/dL.
  Unreliable with albumin below 2.5 g/dL (and with paraproteins or acid–base disturbance); ionized calcium
  is preferred where it is measured.
- Acyl/free carnitine ratio: (total − free) / free; adult reference 0.1–0.8 (Mayo Clinic Laboratories).
  Where the carnitine results themselves had no reference range (children: Myolab holds adult ranges
  only), the ratio has none either, rather than being read against the adult interval.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .interpretation import Flag, Limits, interpret
from .models import Result

LOW_ALBUMIN_FOR_CORRECTION = Decimal("2.5")
CARNITINE_RATIO_LIMITS = Limits(Decimal("0.1"), Decimal("0.8"))


@dataclass(frozen=True)
class DerivedValue:
    name: str
    value: Decimal
    unit: str
    flag: Flag
    range_text: str
    note: str = ""


def corrected_calcium(calcium_mg_dl: Decimal, albumin_g_dl: Decimal) -> Decimal:
    """Payne's albumin-corrected total calcium in mg/dL, to two decimals."""
    value = calcium_mg_dl + Decimal("0.8") * (Decimal("4.0") - albumin_g_dl)
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def acyl_free_carnitine_ratio(total_umol_l: Decimal, free_umol_l: Decimal) -> Decimal | None:
    """(total − free) / free to two decimals; None when free carnitine is zero (no ratio)."""
    if free_umol_l == 0:
        return None
    return ((total_umol_l - free_umol_l) / free_umol_l).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def derived_for_panel(results) -> list[DerivedValue]:
    """The derived values whose inputs are all among `results` (valid results of one panel).

    Inputs are read in their canonical units; the rules only apply while those units are the ones the
    formulas are written in (an administrator could change a canonical unit).
    """
    # A censored input (">1000", "<5") is only a bound, so nothing is worked out from it.
    by_code = {r.analyte.code: r for r in results if r.status != Result.Status.ENTERED_IN_ERROR and not r.comparator}
    derived = []
    calcium, albumin = by_code.get("ca"), by_code.get("alb")
    if calcium and albumin and calcium.analyte.canonical_unit == "mg/dL" and albumin.analyte.canonical_unit == "g/dL":
        value = corrected_calcium(calcium.value, albumin.value)
        note = "Payne 1973. Check ionized calcium where it matters."
        if albumin.value < LOW_ALBUMIN_FOR_CORRECTION:
            note = "Unreliable: albumin is below 2.5 g/dL; measure ionized calcium instead. " + note
        derived.append(
            DerivedValue(
                name="Albumin-corrected calcium",
                value=value,
                unit="mg/dL",
                flag=interpret(value, calcium.limits),
                range_text=calcium.range_text,
                note=note,
            )
        )
    total, free = by_code.get("carn_total"), by_code.get("carn_free")
    if total and free:
        ratio = acyl_free_carnitine_ratio(total.value, free.value)
        ranged = Flag.NO_RANGE not in (total.flag, free.flag)
        if ratio is not None:
            derived.append(
                DerivedValue(
                    name="Acyl/free carnitine ratio",
                    value=ratio,
                    unit="",
                    flag=interpret(ratio, CARNITINE_RATIO_LIMITS) if ranged else Flag.NO_RANGE,
                    range_text=(
                        "0.10–0.80 (adult reference, Mayo Clinic Laboratories)"
                        if ranged
                        else "None for this patient (0.10–0.80 is an adult reference)"
                    ),
                    note="Acylcarnitine = total − free carnitine.",
                )
            )
    return derived
