"""The explanation topics shipped in guidance/content/topics/ (loaded into the test database by
manage.py load_guidance_content, as into an installation): all seven exist, every section has content and
sources, the facts each topic must carry are there, and the markdown renders as lists rather than code
blocks."""

import pytest

from guidance.models import Topic

pytestmark = pytest.mark.django_db

SLUGS = [
    "vitamin-d-deficiency",
    "magnesium-deficiency",
    "low-calcium",
    "potassium-imbalance",
    "carnitine-deficiency",
    "vitamin-e-deficiency",
    "raised-ck",
]
SECTIONS = [field for field, _heading in Topic.SECTIONS]


def test_exactly_the_seven_topics_and_the_delta_check_topic_are_seeded_and_active():
    assert sorted(Topic.objects.values_list("slug", flat=True)) == sorted([*SLUGS, "delta-check"])
    assert Topic.objects.filter(active=True).count() == 8


def test_the_delta_check_topic_names_the_usual_causes_and_its_sources():
    topic = Topic.objects.get(slug="delta-check")
    for cause in ("Haemolysis", "drip", "wrong patient", "different laboratory or method"):
        assert cause in topic.causes
    assert "potassium 3.6 and then 5.1 mmol/L two days later" in topic.what_it_is
    assert "- CLSI EP33, Use of Delta Checks in the Medical Laboratory, 2016" in topic.sources


@pytest.mark.parametrize("slug", SLUGS)
def test_every_section_has_content_of_a_readable_length(slug):
    topic = Topic.objects.get(slug=slug)
    assert topic.title.strip()
    for section in SECTIONS:
        words = len(getattr(topic, section).split())
        # The brief asks for ~40–150 words a section; sources are a short list.
        low = 20 if section == "sources" else 40
        assert low <= words <= 160, f"{slug}.{section} has {words} words"


@pytest.mark.parametrize("slug", SLUGS)
def test_summary_is_one_line_that_fits(slug):
    summary = Topic.objects.get(slug=slug).summary
    assert 0 < len(summary) <= 300
    assert "\n" not in summary


@pytest.mark.parametrize("slug", SLUGS)
def test_sources_are_a_markdown_list_naming_at_least_one_source(slug):
    lines = Topic.objects.get(slug=slug).sources.splitlines()
    items = [line for line in lines if line.startswith("- ")]
    assert len(items) >= 1
    assert all(len(item) > 20 for item in items)


@pytest.mark.parametrize("slug", SLUGS)
def test_markdown_lists_render_as_lists_not_code(slug):
    """Python-Markdown turns an indent into a code block and needs a blank line before a list; each
    paragraph or list item is stored on one line, so nothing is indented at all."""
    topic = Topic.objects.get(slug=slug)
    for section in SECTIONS:
        lines = getattr(topic, section).splitlines()
        assert not any(line.startswith(" ") for line in lines), f"{slug}.{section} has an indented line"
        for before, line in zip(lines, lines[1:], strict=False):
            if line.startswith("- "):
                assert before == "" or before.startswith("- "), f"{slug}.{section}: list needs a blank line"


@pytest.mark.parametrize("slug", SLUGS)
def test_sections_do_not_repeat_the_page_disclaimer(slug):
    topic = Topic.objects.get(slug=slug)
    for section in SECTIONS:
        assert "clinical judgement" not in getattr(topic, section).lower()


# slug, section, phrase that must appear (case-insensitive).
KEY_FACTS = [
    ("vitamin-d-deficiency", "what_it_is", "below 10: severe deficiency"),
    ("vitamin-d-deficiency", "what_it_is", "10–19: mild to moderate deficiency"),
    ("vitamin-d-deficiency", "causes", "limited sun exposure"),
    ("vitamin-d-deficiency", "causes", "malabsorption"),
    ("vitamin-d-deficiency", "causes", "older age"),
    ("vitamin-d-deficiency", "sources", "Holick MF"),
    ("vitamin-d-deficiency", "sources", "Demay MB"),
    ("vitamin-d-deficiency", "sources", "Institute of Medicine"),
    ("magnesium-deficiency", "mechanism", "potassium"),
    ("magnesium-deficiency", "mechanism", "calcium"),
    ("magnesium-deficiency", "mechanism", "parathyroid hormone"),
    ("magnesium-deficiency", "what_it_is", "0.6 mmol/L"),
    ("magnesium-deficiency", "what_it_is", "0.85 mmol/L"),
    ("magnesium-deficiency", "causes", "diuretics"),
    ("magnesium-deficiency", "causes", "heavy sweating"),
    ("magnesium-deficiency", "sources", "Huang CL, Kuo E"),
    ("magnesium-deficiency", "sources", "MaGNet"),
    ("low-calcium", "what_it_is", "albumin"),
    ("low-calcium", "what_it_is", "Ca + 0.8 × (4.0 − albumin in g/dL)"),
    ("low-calcium", "what_it_is", "Ca + 0.02 × (40 − albumin in g/L)"),
    ("low-calcium", "what_it_is", "below 2.5 g/dL"),
    ("low-calcium", "what_it_is", "ionised calcium is preferred"),
    ("low-calcium", "next_checks", "magnesium"),
    ("low-calcium", "escalation", "tetany"),
    ("low-calcium", "escalation", "seizures"),
    ("low-calcium", "sources", "Payne RB"),
    ("potassium-imbalance", "what_it_is", "haemolys"),
    ("potassium-imbalance", "what_it_is", "below 2.8 or above 6.2 mmol/L"),
    ("potassium-imbalance", "other_symptoms", "arrhythmia"),
    ("potassium-imbalance", "muscle_symptoms", "low potassium"),
    ("potassium-imbalance", "muscle_symptoms", "high potassium"),
    ("potassium-imbalance", "causes", "chronic kidney disease"),
    ("potassium-imbalance", "causes", "diuretics"),
    ("potassium-imbalance", "next_checks", "magnesium"),
    ("potassium-imbalance", "escalation", "ECG changes"),
    ("potassium-imbalance", "sources", "Kost GJ"),
    ("carnitine-deficiency", "what_it_is", "primary deficiency"),
    ("carnitine-deficiency", "what_it_is", "secondary deficiency"),
    ("carnitine-deficiency", "what_it_is", "0.1–0.8"),
    ("carnitine-deficiency", "causes", "haemodialysis"),
    ("carnitine-deficiency", "causes", "valproate"),
    ("carnitine-deficiency", "management", "L-carnitine"),
    ("vitamin-e-deficiency", "what_it_is", "below 5 mg/L"),
    ("vitamin-e-deficiency", "what_it_is", "lipids"),
    ("vitamin-e-deficiency", "causes", "fat malabsorption"),
    ("vitamin-e-deficiency", "muscle_symptoms", "myopathy"),
    ("vitamin-e-deficiency", "muscle_symptoms", "neuropathy"),
    ("raised-ck", "what_it_is", "above 4× ULN (1232 / 768 U/L)"),
    ("raised-ck", "what_it_is", "above 10× ULN (3080 / 1920 U/L)"),
    ("raised-ck", "what_it_is", "above 40× ULN (12,320 / 7680 U/L) with kidney injury: rhabdomyolysis"),
    ("raised-ck", "what_it_is", "above 1000 U/L"),
    ("raised-ck", "causes", "statins and fibrates"),
    ("raised-ck", "causes", "hypothyroidism"),
    ("raised-ck", "causes", "heavy sweating"),
    ("raised-ck", "next_checks", "thyroid function"),
    ("raised-ck", "escalation", "dark urine"),
    ("raised-ck", "escalation", "rising creatinine"),
    ("raised-ck", "sources", "Stroes ES"),
    ("raised-ck", "sources", "Stahl K"),
]


@pytest.mark.parametrize(("slug", "section", "phrase"), KEY_FACTS)
def test_topic_carries_its_key_facts(slug, section, phrase):
    text = getattr(Topic.objects.get(slug=slug), section)
    assert phrase.lower() in text.lower()
