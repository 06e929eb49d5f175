from django.db import migrations, models
from django.utils.text import slugify


def fill_slugs(apps, schema_editor):
    Tag = apps.get_model("knowledge", "Tag")
    for tag in Tag.objects.all().iterator():
        spelled = tag.name.replace("+", " plus ").replace("#", " sharp ").replace("&", " and ")
        tag.slug = slugify(spelled, allow_unicode=True)[:80]
        tag.save(update_fields=["slug"])


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0005_search_index_without_pending_list")]

    operations = [
        migrations.AlterField(model_name="tag", name="name", field=models.CharField(max_length=60, unique=True)),
        migrations.AddField(
            model_name="tag",
            name="slug",
            field=models.SlugField(allow_unicode=True, blank=True, db_index=True, max_length=80),
        ),
        migrations.RunPython(fill_slugs, migrations.RunPython.noop),
    ]
