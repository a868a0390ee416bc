"""Seed the guidance rules: which abnormal results make which finding, how urgent, and what to suggest.

Clinical judgements (thresholds, severities, retest intervals) are defaults drawn from the project's
clinical background (shared/DOMAIN.md) and its sources; administrators change them in the admin.
Severity: routine = decide at the next review; prompt = decide within days; urgent = decide today.
A critical result (LL/HH) always makes its finding urgent, whatever the rule says.
"""

from decimal import Decimal as D

from django.db import migrations

SUN, DIURETIC, STATIN, MALABSORPTION, CKD, OLDER, SWEATING = (
    "limited-sun",
    "diuretic",
    "statin",
    "malabsorption",
    "ckd",
    "older-age",
    "heavy-sweating",
)
LOW, HIGH = "L,LL", "H,HH"

# code, analyte, flags, extra conditions, priority, topic, severity, action, retest days, factors, summary
RULES = [
    (
        "vitamin-d-severe", "vitd25", LOW, {"value_below": D("10")}, 10,
        "vitamin-d-deficiency", "prompt", "supplementation", 84, [SUN, MALABSORPTION, CKD, OLDER],
        "Severe vitamin D deficiency (below 10 ng/mL, Mayo decision value): can cause diffuse muscle pain and "
        "proximal weakness; treat and recheck after about 3 months.",
    ),
    (
        "vitamin-d-low", "vitd25", LOW, {}, 20,
        "vitamin-d-deficiency", "routine", "supplementation", 84, [SUN, MALABSORPTION, CKD, OLDER],
        "Vitamin D deficiency (below 20 ng/mL, IOM 2011): may contribute to muscle pain, weakness and fatigue.",
    ),
    (
        "magnesium-low", "mg", LOW, {}, 20,
        "magnesium-deficiency", "routine", "supplementation", 28, [DIURETIC, MALABSORPTION, CKD, OLDER, SWEATING],
        "Low magnesium: raises neuromuscular excitability, so cramps (often at night), spasms and twitching.",
    ),
    (
        "calcium-low", "ca", LOW, {}, 20,
        "low-calcium", "prompt", "repeat-test", 14, [MALABSORPTION, CKD],
        "Low calcium: can cause cramps, tingling and tetany; check albumin (corrected calcium) before calling it "
        "true hypocalcaemia.",
    ),
    (
        "potassium-low", "k", LOW, {}, 20,
        "potassium-imbalance", "prompt", "repeat-test", 7, [DIURETIC, SWEATING],
        "Low potassium: can cause weakness and cramps, and raises arrhythmia risk; check magnesium too.",
    ),
    (
        "potassium-high", "k", HIGH, {}, 20,
        "potassium-imbalance", "prompt", "repeat-test", 3, [CKD],
        "High potassium: raises arrhythmia risk; repeat promptly to exclude haemolysis, and consider muscle "
        "breakdown if CK is raised.",
    ),
    (
        "carnitine-free-low", "carn_free", LOW, {}, 20,
        "carnitine-deficiency", "routine", "repeat-test", 56, [CKD],
        "Low free carnitine: impairs fat use by muscle, so exercise intolerance and myalgia after exertion; "
        "look for a secondary cause (kidney disease, dialysis, drugs).",
    ),
    (
        "carnitine-total-low", "carn_total", LOW, {}, 20,
        "carnitine-deficiency", "routine", "repeat-test", 56, [CKD],
        "Low total carnitine: impairs fat use by muscle, so exercise intolerance and myalgia after exertion; "
        "look for a secondary cause (kidney disease, dialysis, drugs).",
    ),
    (
        "vitamin-e-low", "vite", LOW, {}, 20,
        "vitamin-e-deficiency", "routine", "repeat-test", 84, [MALABSORPTION],
        "Low vitamin E: oxidative damage to muscle membranes can cause myopathy and neuropathy; look for fat "
        "malabsorption.",
    ),
    (
        "ck-over-10x", "ck", HIGH, {"uln_multiple_above": D("10")}, 10,
        "raised-ck", "urgent", "medication-review", 3, [STATIN, CKD, SWEATING],
        "CK more than 10 times the upper limit: with muscle symptoms this is myopathy (EAS 2015 statin-associated "
        "muscle symptoms; stop a statin). Check kidney function and urine now: over 40 times with kidney injury "
        "is rhabdomyolysis.",
    ),
    (
        "ck-over-5x", "ck", HIGH, {"uln_multiple_above": D("5")}, 20,
        "raised-ck", "prompt", "repeat-test", 7, [STATIN, CKD, SWEATING],
        "CK more than 5 times the upper limit: with acute muscle symptoms, consider rhabdomyolysis (rhabdomyolysis "
        "review 2020: over 1000 U/L or over 5 times the upper limit); check kidney function and repeat CK.",
    ),
    (
        "ck-raised", "ck", HIGH, {}, 30,
        "raised-ck", "routine", "repeat-test", 14, [STATIN, SWEATING],
        "Raised CK, a marker of muscle injury: repeat after a week without strenuous exercise or injections, and "
        "consider thyroid function.",
    ),
    # Patterns across results of one panel.
    (
        "magnesium-low-with-potassium-low", "mg", LOW, {"with_analyte": "k", "with_flags": LOW}, 20,
        "magnesium-deficiency", "prompt", "supplementation", 7, [DIURETIC],
        "Low magnesium with low potassium: potassium often stays low until magnesium is replaced, so correct "
        "magnesium first (Huang & Kuo, JASN 2007).",
    ),
    (
        "magnesium-low-with-calcium-low", "mg", LOW, {"with_analyte": "ca", "with_flags": LOW}, 20,
        "magnesium-deficiency", "prompt", "supplementation", 14, [DIURETIC, MALABSORPTION],
        "Low magnesium with low calcium: magnesium deficiency impairs PTH secretion and action, so calcium may not "
        "correct until magnesium does; correct magnesium first.",
    ),
    (
        "calcium-low-with-albumin-low", "ca", LOW, {"with_analyte": "alb", "with_flags": LOW}, 20,
        "low-calcium", "routine", "repeat-test", 14, [],
        "Low calcium with low albumin: work out the albumin-corrected calcium (Payne 1973) or measure ionised "
        "calcium before treating it as true hypocalcaemia.",
    ),
]


def seed(apps, schema_editor):
    Analyte = apps.get_model("labs", "Analyte")
    ContributingFactor = apps.get_model("patients", "ContributingFactor")
    Rule = apps.get_model("guidance", "Rule")
    Topic = apps.get_model("guidance", "Topic")
    for code, analyte, flags, extra, priority, topic, severity, action, days, factors, summary in RULES:
        extra = dict(extra)
        if "with_analyte" in extra:
            extra["with_analyte"] = Analyte.objects.get(code=extra["with_analyte"])
        rule, _ = Rule.objects.update_or_create(
            code=code,
            defaults={
                "analyte": Analyte.objects.get(code=analyte),
                "flags": flags,
                "priority": priority,
                "topic": Topic.objects.get(slug=topic),
                "severity": severity,
                "action_type": action,
                "retest_days": days,
                "summary": summary,
                **extra,
            },
        )
        rule.relevant_factors.set(ContributingFactor.objects.filter(code__in=factors))


class Migration(migrations.Migration):
    dependencies = [
        ("guidance", "0002_seed_topics"),
        ("labs", "0002_seed_catalogue"),
        ("patients", "0002_seed_contributing_factors"),
    ]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
