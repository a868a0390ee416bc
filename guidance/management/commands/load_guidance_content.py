"""Load the guidance content Myolab ships (guidance/content/) into the database: topics by slug, rules by code,
delta rules (labs.DeltaRule, delta_rules.toml) by analyte.

A row that is missing is created. A row that exists is never overwritten when someone has changed it
here: an administrator's edit wins. Each row keeps `shipped_hash`, the hash of the shipped version it
was created from (or last found equal to), so the command can tell the two kinds of difference apart:

- the row still holds that version and the file has moved on: a content update nobody here has touched;
  `--update-unchanged` takes it (and django-simple-history records the change, with a reason);
- the row holds anything else: it was changed here; it is kept and reported, to review in the admin.

The files are read and checked before anything is written, and the run is one transaction, so a malformed
file, or one naming an analyte, topic or contributing factor that does not exist, changes nothing.
"""

import hashlib
import json
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from guidance.models import Rule, Topic
from labs.models import Analyte, DeltaRule
from patients.models import ContributingFactor

SHIPPED = Path(__file__).resolve().parents[2] / "content"
CHANGE_REASON = "Shipped guidance content (manage.py load_guidance_content)"

TOPIC_HEADER = ("title", "summary")
TOPIC_FIELDS = (*TOPIC_HEADER, *(name for name, _heading in Topic.SECTIONS))

# Field: (required, kind). Kinds: text, whole number, number (Decimal), list of codes.
RULE_KEYS = {
    "code": (True, str),
    "analyte": (True, str),
    "flags": (True, str),
    "value_below": (False, Decimal),
    "value_above": (False, Decimal),
    "uln_multiple_above": (False, Decimal),
    "with_analyte": (False, str),
    "with_flags": (False, str),
    "covers": (False, str),
    "priority": (False, int),
    "topic": (True, str),
    "severity": (True, str),
    "action_type": (True, str),
    "retest_days": (False, int),
    "relevant_factors": (False, list),
    "summary": (True, str),
}
RULE_DEFAULTS = {
    "value_below": None,
    "value_above": None,
    "uln_multiple_above": None,
    "with_analyte": None,
    "with_flags": "",
    "covers": Rule.Covers.NONE,
    "priority": Rule._meta.get_field("priority").default,
    "retest_days": None,
    "relevant_factors": [],
}
DELTA_RULE_KEYS = {
    "analyte": (True, str),
    "kind": (True, str),
    "limit": (False, Decimal),
    "cv_within_subject": (False, Decimal),
    "cv_analytical": (False, Decimal),
    "z": (False, Decimal),
    "window_days": (True, int),
    "source": (True, str),
}
DELTA_RULE_DECIMALS = ("limit", "cv_within_subject", "cv_analytical", "z")
DELTA_RULE_DEFAULTS = {
    "limit": None,
    "cv_within_subject": None,
    "cv_analytical": None,
    "z": DeltaRule._meta.get_field("z").default,
}
KIND_NAMES = {str: "text", int: "a whole number", Decimal: "a number", list: "a list of codes"}


@dataclass(frozen=True)
class Shipped:
    """One topic or rule as the files have it. `content` is what `topic_content`/`rule_content` give for
    a row holding exactly this version; `source` names the file (and the rule) in messages."""

    key: str
    source: str
    content: dict

    @property
    def hash(self):
        return content_hash(self.content)


def content_hash(content):
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def decimal_text(value):
    """10, 10.0 and the database's 10.0000 are one threshold: compare them as '10'."""
    return None if value is None else format(Decimal(value).normalize(), "f")


def topic_content(topic):
    return {name: getattr(topic, name) for name in TOPIC_FIELDS}


def without_default_covers(content):
    """`covers` came after the first releases: left out of a rule's content (and so of its hash) while it
    is "none", a rule shipped before it still hashes as shipped, and a pattern that now covers findings
    is a newer shipped version that --update-unchanged may take."""
    if content["covers"] == Rule.Covers.NONE:
        del content["covers"]
    return content


def rule_content(rule):
    return without_default_covers(
        {
            "analyte": rule.analyte.code,
            "flags": rule.flags,
            "value_below": decimal_text(rule.value_below),
            "value_above": decimal_text(rule.value_above),
            "uln_multiple_above": decimal_text(rule.uln_multiple_above),
            "with_analyte": rule.with_analyte.code if rule.with_analyte_id else None,
            "with_flags": rule.with_flags,
            "covers": rule.covers,
            "priority": rule.priority,
            "topic": rule.topic.slug,
            "severity": rule.severity,
            "action_type": rule.action_type,
            "retest_days": rule.retest_days,
            "relevant_factors": sorted(factor.code for factor in rule.relevant_factors.all()),
            "summary": rule.summary,
        }
    )


def read_topic(path):
    """A topic file: a TOML header between `+++` lines (title, summary), then one `## Heading` section
    for each of Topic.SECTIONS, under the heading the explanation page shows. The slug is the file name."""
    name = f"topics/{path.name}"
    text = path.read_text(encoding="utf-8")
    header_text, separator, body = text.removeprefix("+++\n").partition("\n+++\n")
    if not text.startswith("+++\n") or not separator:
        raise CommandError(f"{name}: the file must start with a header between two '+++' lines (title, summary).")
    try:
        header = tomllib.loads(header_text)
    except tomllib.TOMLDecodeError as exc:
        raise CommandError(f"{name}: the header is not valid TOML: {exc}.") from exc
    check_keys(name, header, required=TOPIC_HEADER, allowed=TOPIC_HEADER)
    for field in TOPIC_HEADER:
        if not isinstance(header[field], str):
            raise CommandError(f"{name}: header field '{field}' must be text in quotes.")

    fields_by_heading = {heading: field for field, heading in Topic.SECTIONS}
    sections, field = {}, None
    # Split on newlines only: str.splitlines() would also split the text at a U+2028 or form feed.
    for line in body.split("\n"):
        if line.startswith("## "):
            heading = line.removeprefix("## ").strip()
            if heading not in fields_by_heading:
                allowed = ", ".join(f"'## {heading}'" for heading in fields_by_heading)
                raise CommandError(f"{name}: unknown section '{line}'; the sections are {allowed}.")
            field = fields_by_heading[heading]
            if field in sections:
                raise CommandError(f"{name}: section '{line}' appears twice.")
            sections[field] = []
        elif field is not None:
            sections[field].append(line)
        elif line.strip():
            raise CommandError(f"{name}: text before the first section ('{line[:40]}'); start it with '## What it is'.")
    for field, heading in Topic.SECTIONS:
        if field not in sections:
            raise CommandError(f"{name}: section '## {heading}' is missing (it may be empty, but must be there).")
    content = {field: header[field] for field in TOPIC_HEADER}
    content.update({field: "\n".join(lines).strip("\n") for field, lines in sections.items()})
    return Shipped(key=path.stem, source=name, content=content)


def read_rules(path):
    """rules.toml: one [[rules]] table per rule, fields as in RULE_KEYS (the file's header explains them)."""
    name = path.name
    tables = read_tables(path, "rules")
    shipped, codes = [], set()
    for number, table in enumerate(tables, start=1):
        code = table.get("code")
        source = f"{name}, rule '{code}'" if isinstance(code, str) else f"{name}, rule {number}"
        required = [key for key, (needed, _kind) in RULE_KEYS.items() if needed]
        check_keys(source, table, required=required, allowed=RULE_KEYS)
        check_kinds(source, table, RULE_KEYS)
        if code in codes:
            raise CommandError(f"{source}: the code '{code}' is used by another rule; codes must be unique.")
        codes.add(code)
        content = {**RULE_DEFAULTS, **table}
        del content["code"]
        for key in ("value_below", "value_above", "uln_multiple_above"):
            content[key] = decimal_text(content[key])
        content["relevant_factors"] = sorted(content["relevant_factors"])
        without_default_covers(content)
        shipped.append(Shipped(key=code, source=source, content=content))
    return shipped


def read_delta_rules(path):
    """delta_rules.toml: one [[delta_rules]] table per analyte, fields as in DELTA_RULE_KEYS."""
    tables = read_tables(path, "delta_rules")
    shipped, analytes = [], set()
    for number, table in enumerate(tables, start=1):
        code = table.get("analyte")
        source = (
            f"{path.name}, delta rule for '{code}'" if isinstance(code, str) else f"{path.name}, delta rule {number}"
        )
        check_keys(
            source,
            table,
            required=[key for key, (needed, _) in DELTA_RULE_KEYS.items() if needed],
            allowed=DELTA_RULE_KEYS,
        )
        check_kinds(source, table, DELTA_RULE_KEYS)
        if code in analytes:
            raise CommandError(f"{source}: '{code}' has another delta rule; one rule per analyte.")
        analytes.add(code)
        content = {**DELTA_RULE_DEFAULTS, **table}
        del content["analyte"]
        for key in DELTA_RULE_DECIMALS:
            content[key] = decimal_text(content[key])
        shipped.append(Shipped(key=code, source=source, content=content))
    return shipped


def read_tables(path, name):
    """The list of [[name]] tables in a TOML file, numbers read as Decimal (never binary floats)."""
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal).get(name)
    except tomllib.TOMLDecodeError as exc:
        raise CommandError(f"{path.name}: not valid TOML: {exc}.") from exc
    if not isinstance(tables, list) or not tables:
        raise CommandError(f"{path.name}: nothing to load; each entry is a table that starts with a '[[{name}]]' line.")
    return tables


def check_kinds(source, table, keys):
    for key, value in table.items():
        kind = keys[key][1]
        fits = isinstance(value, (int, Decimal)) if kind is Decimal else isinstance(value, kind)
        if kind is list:
            fits = fits and all(isinstance(item, str) for item in value)
        if not fits or isinstance(value, bool):
            raise CommandError(f"{source}: '{key}' must be {KIND_NAMES[kind]}, not {value!r}.")


def check_keys(source, table, *, required, allowed):
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise CommandError(f"{source}: unknown field '{unknown[0]}'; the fields are {', '.join(allowed)}.")
    missing = [key for key in required if key not in table]
    if missing:
        raise CommandError(f"{source}: field '{missing[0]}' is missing; it is required.")


def read_content(directory):
    topics = [read_topic(path) for path in sorted((directory / "topics").glob("*.md"))]
    if not topics:
        raise CommandError(f"{directory / 'topics'}: no topic files (*.md).")
    return topics, read_rules(directory / "rules.toml"), read_delta_rules(directory / "delta_rules.toml")


def save_topic(topic, shipped):
    topic.slug = shipped.key
    for field, value in shipped.content.items():
        setattr(topic, field, value)
    topic.updated_at, topic.updated_by = timezone.now(), None
    save_checked(topic, shipped)


def save_rule(rule, shipped):
    rule.code = shipped.key
    content = shipped.content
    analytes = {analyte.code: analyte for analyte in Analyte.objects.all()}
    topic = Topic.objects.filter(slug=content["topic"]).first()
    if topic is None:
        raise CommandError(f"{shipped.source}: topic '{content['topic']}' has no topic file and no topic here.")
    for key in ("analyte", "with_analyte"):
        if content[key] is not None and content[key] not in analytes:
            known = ", ".join(sorted(analytes))
            raise CommandError(f"{shipped.source}: {key} '{content[key]}' is not in the catalogue ({known}).")
    factors = list(ContributingFactor.objects.filter(code__in=content["relevant_factors"]))
    unknown = sorted(set(content["relevant_factors"]) - {factor.code for factor in factors})
    if unknown:
        raise CommandError(f"{shipped.source}: relevant_factors: no contributing factor '{unknown[0]}'.")
    rule.covers = Rule.Covers.NONE  # unless the content names it (left out when "none")
    for key, value in content.items():
        if key not in ("analyte", "with_analyte", "topic", "relevant_factors"):
            setattr(rule, key, value)  # full_clean() turns the thresholds' text into Decimals
    rule.analyte, rule.with_analyte, rule.topic = (
        analytes[content["analyte"]],
        analytes.get(content["with_analyte"]),
        topic,
    )
    save_checked(rule, shipped)
    rule.relevant_factors.set(factors)


def delta_rule_content(rule):
    content = {key: getattr(rule, key) for key in DELTA_RULE_KEYS if key != "analyte"}
    for key in DELTA_RULE_DECIMALS:
        content[key] = decimal_text(content[key])
    return content


def save_delta_rule(rule, shipped):
    analyte = Analyte.objects.filter(code=shipped.key).first()
    if analyte is None:
        known = ", ".join(Analyte.objects.order_by("code").values_list("code", flat=True))
        raise CommandError(f"{shipped.source}: analyte '{shipped.key}' is not in the catalogue ({known}).")
    rule.analyte = analyte
    for key, value in shipped.content.items():
        setattr(rule, key, value)  # full_clean() turns the numbers' text into Decimals
    save_checked(rule, shipped)


def save_checked(row, shipped):
    row.shipped_hash = shipped.hash
    row._change_reason = CHANGE_REASON
    try:
        row.full_clean()
    except ValidationError as exc:
        problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
        raise CommandError(f"{shipped.source}: {problems}") from exc
    row.save()


class Command(BaseCommand):
    help = (
        "Create the shipped guidance topics and rules (guidance/content/) that are missing; never overwrite "
        "a row changed here. --update-unchanged also brings rows nobody has changed up to the shipped version."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--update-unchanged",
            action="store_true",
            help="Also update rows still holding the shipped version they were created from to the newer one.",
        )
        parser.add_argument(
            "--content-dir", type=Path, default=SHIPPED, help="Where the content is (default: guidance/content)."
        )

    def handle(self, *args, update_unchanged, content_dir, **options):
        topics, rules, delta_rules = read_content(content_dir)
        with transaction.atomic():
            # Topics first: rules name their topic.
            by_slug, by_code = (lambda row: row.slug), (lambda row: row.code)
            self.load("Topic", Topic.objects.all(), by_slug, topics, topic_content, save_topic, update_unchanged)
            rows = Rule.objects.select_related("analyte", "with_analyte", "topic").prefetch_related("relevant_factors")
            self.load("Rule", rows, by_code, rules, rule_content, save_rule, update_unchanged)
            rows = DeltaRule.objects.select_related("analyte")
            by_analyte = lambda row: row.analyte.code  # noqa: E731
            self.load(
                "Delta rule", rows, by_analyte, delta_rules, delta_rule_content, save_delta_rule, update_unchanged
            )

    def load(self, label, rows, key_of, shipped_items, content_of, save, update_unchanged):
        """Create the missing rows of `shipped_items` (each saved by `save`, which sets its key), keyed by
        `key_of(row)`; compare the others' `content_of(row)` with the shipped version, as the docstring says."""
        existing = {key_of(row): row for row in rows}
        counts = dict.fromkeys(
            ["as shipped", "updated to the shipped version", "with a newer shipped version", "changed here and kept"], 0
        )
        created = 0
        for shipped in shipped_items:
            row = existing.get(shipped.key)
            if row is None:
                row = rows.model()
                save(row, shipped)
                created += 1
                continue
            stored = content_hash(content_of(row))
            if stored == shipped.hash:
                counts["as shipped"] += 1
                if row.shipped_hash != shipped.hash:
                    # Equal to the shipped version (as rows the old data migrations wrote are): remember
                    # it, so a later version can tell this row was not changed here. Not a content change.
                    rows.model.objects.filter(pk=row.pk).update(shipped_hash=shipped.hash)
            elif stored == row.shipped_hash and update_unchanged:
                save(row, shipped)
                counts["updated to the shipped version"] += 1
                self.stdout.write(f"{label} {shipped.key}: updated to the shipped version ({shipped.source}).")
            elif stored == row.shipped_hash:
                counts["with a newer shipped version"] += 1
                self.stdout.write(
                    f"{label} {shipped.key}: the shipped version ({shipped.source}) is newer and nobody has "
                    "changed this one here; run with --update-unchanged to take it."
                )
            else:
                counts["changed here and kept"] += 1
                self.stdout.write(
                    f"{label} {shipped.key}: differs from the shipped version ({shipped.source}) and was "
                    "changed here, so it is kept; review it in the admin."
                )
        there = sum(counts.values())
        details = ", ".join(f"{count} {state}" for state, count in counts.items() if count)
        self.stdout.write(f"{label}s: {created} created, {there} already there" + (f" ({details})." if there else "."))
