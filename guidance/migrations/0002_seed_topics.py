"""Seeded the explanation topics until they moved to guidance/content/topics/ (issue #11).

A data migration cannot bring a content update to a database that has already applied it, so the topics
now come from `manage.py load_guidance_content`, which creates what is missing and never overwrites an
administrator's change. Databases that applied this migration keep the rows it wrote; it stays, empty,
so the migration graph is unchanged.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("guidance", "0001_initial")]
    operations = []
