"""The list's order (name, kind) with the id in the index: a page's ids, however deep the page, are read
from the index alone (the page's rows are then fetched by id). It replaces the index on name."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0010_template_kind")]

    operations = [
        migrations.RemoveIndex(model_name="entity", name="catalog_entity_name"),
        migrations.AddIndex(
            model_name="entity",
            index=models.Index(fields=["name", "kind", "id"], name="catalog_entity_name_kind"),
        ),
    ]
