"""Seeded the guidance rules until they moved to guidance/content/rules.toml (issue #11).

The rules now come from `manage.py load_guidance_content`, like the topics (see 0002). Databases that
applied this migration keep the rows it wrote; it stays, empty, so the migration graph is unchanged.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("guidance", "0002_seed_topics"),
        ("labs", "0002_seed_catalogue"),
        ("patients", "0002_seed_contributing_factors"),
    ]
    operations = []
