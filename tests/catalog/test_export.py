"""Export to Backstage YAML, and the round trip back."""

import pytest
import yaml

from catalog import selectors, services
from catalog.demo import demo_files
from catalog.models import Entity, Relation
from tests.catalog.test_import import FULL

pytestmark = pytest.mark.django_db


def snapshot():
    entities = {
        e.ref_key: (
            e.kind,
            e.namespace,
            e.name,
            e.title,
            e.description,
            e.spec_type,
            e.lifecycle,
            e.labels,
            e.annotations,
            e.tags,
            e.links,
            e.spec,
            e.owner_ref,
            e.system_ref,
        )
        for e in Entity.objects.all()
    }
    relations = sorted(
        set(Relation.objects.values_list("source_ref", "type", "target_ref", "source__ref_key", "target__ref_key"))
    )
    return entities, relations


def test_the_whole_catalog_exports_to_yaml_that_re_imports_to_the_same_catalog(import_text):
    import_text(FULL, name="full")
    for name, text in demo_files().items():
        import_text(text, name=name)
    before = snapshot()
    exported = "".join(selectors.export_yaml(Entity.objects.all()))
    Entity.objects.all().delete()
    Relation.objects.all().delete()
    assert Entity.objects.count() == 0
    result = services.catalog_import_text(text=exported, name="exported")
    assert result.problems == []
    assert snapshot() == before


def test_an_export_is_backstage_descriptors(import_text):
    import_text(FULL)
    docs = list(yaml.safe_load_all("".join(selectors.export_yaml(Entity.objects.filter(name="checkout")))))
    assert docs == [
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": "checkout",
                "namespace": "default",
                "title": "Checkout",
                "description": "Takes orders.",
                "labels": {"tier": "1"},
                "annotations": {"github.com/project-slug": "example/checkout"},
                "tags": ["python", "pci"],
                "links": [{"url": "https://grafana.example.com/d/checkout", "title": "Dashboard", "type": "dashboard"}],
            },
            "spec": {
                "type": "service",
                "lifecycle": "production",
                "owner": "team-pay",
                "system": "payments",
                "dependsOn": ["component:ledger", "resource:orders-db"],
                "providesApis": ["checkout-api"],
                "consumesApis": ["payments-api"],
            },
        }
    ]
