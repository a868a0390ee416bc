"""manage.py load_guidance_content: the shipped topics and rules (guidance/content/) reach the database by
slug and code; what is missing is created, an administrator's change is never overwritten, and
--update-unchanged brings rows nobody changed up to a newer shipped version. The session's test database
was loaded by this command (tests/conftest.py), as `make run` loads an installation."""

import io
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given
from hypothesis import strategies as st

from guidance.management.commands.load_guidance_content import SHIPPED, read_topic
from guidance.models import Rule, Topic

AS_SHIPPED = "Topics: 0 created, 8 already there (8 as shipped).\nRules: 0 created, 15 already there (15 as shipped).\nDelta rules: 0 created, 3 already there (3 as shipped).\n"


def load(*args):
    out = io.StringIO()
    call_command("load_guidance_content", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def content(tmp_path):
    """A copy of the shipped content to change, as a later release of Myolab would."""
    return Path(shutil.copytree(SHIPPED, tmp_path / "content"))


def replace_in(path, old, new):
    path.write_text(once(old, new)(path.read_text()))


def history_count():
    return Topic.history.count() + Rule.history.count()


@pytest.mark.django_db
def test_running_again_creates_nothing_and_changes_nothing():
    before = history_count()

    assert load() == AS_SHIPPED
    assert load() == AS_SHIPPED

    assert (Topic.objects.count(), Rule.objects.count()) == (8, 15)
    assert history_count() == before


@pytest.mark.django_db
def test_an_empty_database_gets_every_topic_and_rule_with_their_fields():
    Rule.objects.all().delete()
    Topic.objects.all().delete()

    assert (
        load()
        == "Topics: 8 created, 0 already there.\nRules: 15 created, 0 already there.\nDelta rules: 0 created, 3 already there (3 as shipped).\n"
    )

    rule = Rule.objects.get(code="ck-over-10x")
    assert (rule.analyte.code, rule.flags, rule.uln_multiple_above, rule.value_below) == ("ck", "H,HH", 10, None)
    assert (rule.priority, rule.topic.slug, rule.severity, rule.action_type) == (
        10,
        "raised-ck",
        "urgent",
        "medication-review",
    )
    assert rule.retest_days == 3
    assert sorted(rule.relevant_factors.values_list("code", flat=True)) == ["ckd", "heavy-sweating", "statin"]
    assert rule.summary.startswith("CK more than 10 times the upper limit: with muscle symptoms this is myopathy")
    pattern = Rule.objects.get(code="magnesium-low-with-potassium-low")
    assert (pattern.analyte.code, pattern.with_analyte.code, pattern.with_flags) == ("mg", "k", "L,LL")
    assert Rule.objects.get(code="vitamin-d-severe").value_below == Decimal("10")
    topic = Topic.objects.get(slug="raised-ck")
    assert topic.title == "Raised creatine kinase (muscle injury)"
    assert topic.escalation.startswith("- Emergency care: raised CK with dark urine, little urine, a rising creatinine")
    assert topic.active
    assert topic.history.get().history_change_reason == "Shipped guidance content (manage.py load_guidance_content)"


@pytest.mark.django_db
def test_a_missing_topic_and_rule_are_recreated_and_the_rest_left_alone():
    Rule.objects.filter(code__in=["vitamin-e-low", "calcium-low-with-albumin-low"]).delete()
    Topic.objects.filter(slug="vitamin-e-deficiency").delete()

    assert (
        load()
        == "Topics: 1 created, 7 already there (7 as shipped).\nRules: 2 created, 13 already there (13 as shipped).\nDelta rules: 0 created, 3 already there (3 as shipped).\n"
    )

    assert "below 5 mg/L" in Topic.objects.get(slug="vitamin-e-deficiency").what_it_is
    assert Rule.objects.get(code="vitamin-e-low").topic.slug == "vitamin-e-deficiency"
    assert (Topic.objects.count(), Rule.objects.count()) == (8, 15)


@pytest.mark.django_db
@pytest.mark.parametrize("loaded_by", ["this command", "the old data migrations"])
@pytest.mark.parametrize("option", [[], ["--update-unchanged"]])
def test_an_administrators_edit_is_never_overwritten(loaded_by, option):
    if loaded_by == "the old data migrations":  # they stored no shipped version
        Topic.objects.update(shipped_hash="")
        Rule.objects.update(shipped_hash="")
    topic = Topic.objects.get(slug="raised-ck")
    topic.title, topic.escalation = "CK (our wording)", "- Call the on-call registrar"
    topic.save()
    rule = Rule.objects.get(code="ck-raised")
    rule.relevant_factors.clear()
    before = history_count()

    out = load(*option)

    assert out == (
        "Topic raised-ck: differs from the shipped version (topics/raised-ck.md) and was changed here, so it is "
        "kept; review it in the admin.\n"
        "Topics: 0 created, 8 already there (7 as shipped, 1 changed here and kept).\n"
        "Rule ck-raised: differs from the shipped version (rules.toml, rule 'ck-raised') and was changed here, so "
        "it is kept; review it in the admin.\n"
        "Rules: 0 created, 15 already there (14 as shipped, 1 changed here and kept).\nDelta rules: 0 created, 3 already there (3 as shipped).\n"
    )
    topic.refresh_from_db()
    assert (topic.title, topic.escalation) == ("CK (our wording)", "- Call the on-call registrar")
    assert not Rule.objects.get(code="ck-raised").relevant_factors.exists()
    assert history_count() == before


@pytest.mark.django_db
def test_a_newer_shipped_version_reaches_rows_nobody_changed_only_with_update_unchanged(content):
    replace_in(
        content / "topics" / "raised-ck.md", 'title = "Raised creatine kinase (muscle injury)"', 'title = "Raised CK"'
    )
    replace_in(
        content / "rules.toml",
        'retest_days = 14\nrelevant_factors = ["statin", "heavy-sweating"]',
        'retest_days = 21\nrelevant_factors = ["statin"]',
    )
    # Changed here and in the new version: the administrator's edit still wins.
    replace_in(content / "topics" / "low-calcium.md", "## Sources\n", "## Sources\n\n- A new source, 2027\n")
    Topic.objects.filter(slug="low-calcium").update(sources="- Our own protocol, 2026")

    out = load("--content-dir", str(content))

    assert out == (
        "Topic low-calcium: differs from the shipped version (topics/low-calcium.md) and was changed here, so it "
        "is kept; review it in the admin.\n"
        "Topic raised-ck: the shipped version (topics/raised-ck.md) is newer and nobody has changed this one here; "
        "run with --update-unchanged to take it.\n"
        "Topics: 0 created, 8 already there (6 as shipped, 1 with a newer shipped version, 1 changed here and kept).\n"
        "Rule ck-raised: the shipped version (rules.toml, rule 'ck-raised') is newer and nobody has changed this one "
        "here; run with --update-unchanged to take it.\n"
        "Rules: 0 created, 15 already there (14 as shipped, 1 with a newer shipped version).\nDelta rules: 0 created, 3 already there (3 as shipped).\n"
    )
    assert Topic.objects.get(slug="raised-ck").title == "Raised creatine kinase (muscle injury)"
    assert Rule.objects.get(code="ck-raised").retest_days == 14

    out = load("--content-dir", str(content), "--update-unchanged")

    assert "Topic raised-ck: updated to the shipped version (topics/raised-ck.md).\n" in out
    assert "Rule ck-raised: updated to the shipped version (rules.toml, rule 'ck-raised').\n" in out
    assert (
        "Topics: 0 created, 8 already there (6 as shipped, 1 updated to the shipped version, 1 changed here and kept).\n"
        in out
    )
    topic = Topic.objects.get(slug="raised-ck")
    assert topic.title == "Raised CK"
    assert topic.updated_by is None
    assert topic.history.first().history_change_reason == "Shipped guidance content (manage.py load_guidance_content)"
    rule = Rule.objects.get(code="ck-raised")
    assert rule.retest_days == 21
    assert list(rule.relevant_factors.values_list("code", flat=True)) == ["statin"]
    assert Topic.objects.get(slug="low-calcium").sources == "- Our own protocol, 2026"
    # Taken once: the next run finds the rows as shipped.
    assert load("--content-dir", str(content)).endswith(
        "Rules: 0 created, 15 already there (15 as shipped).\nDelta rules: 0 created, 3 already there (3 as shipped).\n"
    )


@pytest.mark.django_db
def test_rows_the_old_migrations_wrote_count_as_unchanged_so_updates_reach_them(content):
    """An installation from before the content moved: its rows have no shipped version stored. Those still
    equal to the files get it on the first run (no history row: nothing about the content changed)."""
    Topic.objects.update(shipped_hash="")
    Rule.objects.update(shipped_hash="")
    before = history_count()

    assert load() == AS_SHIPPED

    assert not Topic.objects.filter(shipped_hash="").exists()
    assert not Rule.objects.filter(shipped_hash="").exists()
    assert history_count() == before
    replace_in(
        content / "rules.toml",
        'retest_days = 84\nrelevant_factors = ["limited-sun", "malabsorption", "ckd", "older-age"]\nsummary = "Severe',
        'retest_days = 56\nrelevant_factors = ["limited-sun", "malabsorption", "ckd", "older-age"]\nsummary = "Severe',
    )
    assert "Rule vitamin-d-severe: updated to the shipped version" in load(
        "--content-dir", str(content), "--update-unchanged"
    )
    assert Rule.objects.get(code="vitamin-d-severe").retest_days == 56


NEW_RULE = """
[[rules]]
code = "vitamin-e-very-low"
analyte = "vite"
flags = "LL"
topic = "vitamin-e-deficiency"
severity = "prompt"
action_type = "supplementation"
summary = "Very low vitamin E."
"""
NEW_TOPIC = '+++\ntitle = "Zinc deficiency"\nsummary = "Low zinc."\n+++\n\n' + "".join(
    f"## {heading}\n\nText.\n\n" for _field, heading in Topic.SECTIONS
)


def once(old, new):
    """A change to a file: `old` (which must be there exactly once) becomes `new`."""

    def change(text):
        assert text.count(old) == 1, f"{old!r} is not once in the file"
        return text.replace(old, new)

    return change


def append(extra):
    return lambda text: text + extra


CK_RAISED = 'code = "ck-raised"\nanalyte = "ck"\nflags = "H,HH"\npriority = 30'
SECTIONS = ", ".join(f"'## {heading}'" for _field, heading in Topic.SECTIONS)
RULE_FIELDS = (
    "code, analyte, flags, value_below, value_above, uln_multiple_above, with_analyte, with_flags, covers, priority, "
    "topic, severity, action_type, retest_days, relevant_factors, summary"
)
# file, change, the error (a regular expression when it starts with ^).
MALFORMED = [
    (
        "topics/raised-ck.md",
        once("+++\ntitle", "title"),
        "topics/raised-ck.md: the file must start with a header between two '+++' lines (title, summary).",
    ),
    (
        "topics/raised-ck.md",
        once('title = "Raised', "title = Raised"),
        r"^topics/raised-ck\.md: the header is not valid TOML: .+ \(at line 1, column 9\)\.$",
    ),
    (
        "topics/raised-ck.md",
        once("summary = ", "sumary = "),
        "topics/raised-ck.md: unknown field 'sumary'; the fields are title, summary.",
    ),
    (
        "topics/raised-ck.md",
        once('title = "Raised creatine kinase (muscle injury)"\n', ""),
        "topics/raised-ck.md: field 'title' is missing; it is required.",
    ),
    (
        "topics/raised-ck.md",
        once('title = "Raised creatine kinase (muscle injury)"', "title = 7"),
        "topics/raised-ck.md: header field 'title' must be text in quotes.",
    ),
    (
        "topics/raised-ck.md",
        once("## Sources", "## References"),
        f"topics/raised-ck.md: unknown section '## References'; the sections are {SECTIONS}.",
    ),
    (
        "topics/raised-ck.md",
        once("## Other symptoms", "## Muscle symptoms"),
        "topics/raised-ck.md: section '## Muscle symptoms' appears twice.",
    ),
    (
        "topics/raised-ck.md",
        once("## When to escalate\n", ""),
        "topics/raised-ck.md: section '## When to escalate' is missing (it may be empty, but must be there).",
    ),
    (
        "topics/raised-ck.md",
        once("+++\n\n## What it is", "+++\nIntro\n## What it is"),
        "topics/raised-ck.md: text before the first section ('Intro'); start it with '## What it is'.",
    ),
    (
        "rules.toml",
        once('code = "ck-raised"', 'code = "ck-raised"\nseverty = "routine"'),
        f"rules.toml, rule 'ck-raised': unknown field 'severty'; the fields are {RULE_FIELDS}.",
    ),
    (
        "rules.toml",
        once('code = "ck-raised"\nanalyte = "ck"\n', 'code = "ck-raised"\n'),
        "rules.toml, rule 'ck-raised': field 'analyte' is missing; it is required.",
    ),
    (
        "rules.toml",
        once(CK_RAISED, CK_RAISED.replace("30", '"last"')),
        "rules.toml, rule 'ck-raised': 'priority' must be a whole number, not 'last'.",
    ),
    (
        "rules.toml",
        once("value_below = 10\n", 'value_below = "10"\n'),
        "rules.toml, rule 'vitamin-d-severe': 'value_below' must be a number, not '10'.",
    ),
    (
        "rules.toml",
        once('code = "ck-raised"', 'code = "ck-over-5x"'),
        "rules.toml, rule 'ck-over-5x': the code 'ck-over-5x' is used by another rule; codes must be unique.",
    ),
    (
        "rules.toml",
        once('code = "vitamin-d-severe"', 'code = "vitamin-d-severe"\n['),
        r"^rules\.toml: not valid TOML: .+ \(at line \d+, column \d+\)\.$",
    ),
    (
        "rules.toml",
        lambda text: text.replace("[[rules]]", "[[rule]]"),
        "rules.toml: nothing to load; each entry is a table that starts with a '[[rules]]' line.",
    ),
    # Checked when the row is written; the run's transaction undoes the valid topic created before it.
    (
        "rules.toml",
        append(NEW_RULE.replace('"prompt"', '"soon"')),
        "rules.toml, rule 'vitamin-e-very-low': severity: Value 'soon' is not a valid choice.",
    ),
    (
        "rules.toml",
        append(NEW_RULE.replace('"LL"', '"LLL"')),
        "rules.toml, rule 'vitamin-e-very-low': flags: Unknown flag(s) LLL: use abnormal flags only (H, HH, L, LL).",
    ),
    (
        "rules.toml",
        append(NEW_RULE.replace('"vite"', '"zinc"')),
        "rules.toml, rule 'vitamin-e-very-low': analyte 'zinc' is not in the catalogue "
        "(alb, ca, carn_free, carn_total, ck, k, mg, vitd25, vite).",
    ),
    (
        "rules.toml",
        append(NEW_RULE.replace('"vitamin-e-deficiency"', '"zinc"')),
        "rules.toml, rule 'vitamin-e-very-low': topic 'zinc' has no topic file and no topic here.",
    ),
    (
        "rules.toml",
        append(NEW_RULE + 'relevant_factors = ["smoking"]\n'),
        "rules.toml, rule 'vitamin-e-very-low': relevant_factors: no contributing factor 'smoking'.",
    ),
    (
        "delta_rules.toml",
        once('analyte = "mg"\nkind = "rcv"', 'analyte = "k"\nkind = "rcv"'),
        "delta_rules.toml, delta rule for 'k': 'k' has another delta rule; one rule per analyte.",
    ),
    (
        "delta_rules.toml",
        # A new rule (for albumin), so it is written and checked.
        lambda text: once('analyte = "mg"', 'analyte = "alb"')(
            once(
                'window_days = 7\nsource = "CVI 2 %: Cotlove, Harris & Williams, Clin Chem 1970 (below 2 % for magnesium',
                'window_days = 0\nsource = "CVI 2 %: Cotlove, Harris & Williams, Clin Chem 1970 (below 2 % for magnesium',
            )(text)
        ),
        "delta_rules.toml, delta rule for 'alb': window_days: The window must be at least 1 day (you gave 0).",
    ),
    (
        "delta_rules.toml",
        once('analyte = "ca"', 'analyte = "zinc"'),
        "delta_rules.toml, delta rule for 'zinc': analyte 'zinc' is not in the catalogue "
        "(alb, ca, carn_free, carn_total, ck, k, mg, vitd25, vite).",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "change", "error"), MALFORMED, ids=[case[2][:70] for case in MALFORMED])
def test_a_malformed_file_is_refused_naming_the_file_and_field_and_nothing_changes(content, name, change, error):
    (content / "topics" / "zinc-deficiency.md").write_text(NEW_TOPIC)
    path = content / name
    path.write_text(change(path.read_text()))
    before = history_count()

    with pytest.raises(CommandError) as raised:
        load("--content-dir", str(content))

    if error.startswith("^"):
        assert re.match(error, str(raised.value)), str(raised.value)
    else:
        assert str(raised.value) == error
    assert (Topic.objects.count(), Rule.objects.count(), history_count()) == (8, 15, before)


def test_a_topic_file_reads_into_its_fields(tmp_path):
    path = tmp_path / "zinc-deficiency.md"
    path.write_text(
        NEW_TOPIC.replace("## Muscle symptoms\n\nText.\n", "## Muscle symptoms\n\n\n- Cramps\n\n- Weakness\n\n\n")
    )

    topic = read_topic(path)

    assert topic.key == "zinc-deficiency"
    assert topic.source == "topics/zinc-deficiency.md"
    assert topic.content["title"] == "Zinc deficiency"
    assert topic.content["summary"] == "Low zinc."
    # Blank lines around a section are not part of it; blank lines inside it are.
    assert topic.content["muscle_symptoms"] == "- Cramps\n\n- Weakness"
    assert topic.content["sources"] == "Text."


# Any text a section can hold: not starting or ending with a blank line, no line starting "## ". Reading a
# file turns "\r" into "\n", so it is left out; other line-like characters (form feed, U+2028) are not.
SECTION_TEXT = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r") | st.sampled_from("\n\x0c\x85\u2028# -"),
    max_size=200,
).filter(lambda text: text == text.strip("\n") and not any(line.startswith("## ") for line in text.split("\n")))


@given(text=SECTION_TEXT)
def test_any_section_text_reads_back_as_written(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("topic") / "any.md"
    path.write_text(NEW_TOPIC.replace("## Sources\n\nText.\n", f"## Sources\n\n{text}\n"))

    assert read_topic(path).content["sources"] == text


def test_make_run_loads_the_content_after_the_roles_and_before_the_demo():
    makefile = (Path(settings.BASE_DIR) / "Makefile").read_text()
    demo = re.search(r"^demo: migrate\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    commands = [line.split("manage.py ")[1] for line in demo.splitlines()]

    assert commands == ["setup_roles", "load_guidance_content", "seed_demo", "seed_demo_results"]
    assert re.search(r"^run: demo$", makefile, re.MULTILINE)
