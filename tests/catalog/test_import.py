"""Import of Backstage descriptors: parsing, relations, idempotency, orphaning, bad input."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog import services
from catalog.models import Entity, Kind, Relation
from tests.catalog.conftest import dedent, entity

pytestmark = pytest.mark.django_db

FULL = """
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: commerce}
spec: {owner: group:org}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: payments-domain}
spec: {owner: org, subdomainOf: commerce}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: payments}
spec: {owner: org, domain: payments-domain}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: org}
spec:
  type: organization
  children: [team-pay]
  profile: {displayName: The org, email: org@example.com}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-pay}
spec: {type: team, parent: org, children: [], members: [alice]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec:
  profile: {displayName: Bob, email: bob@example.com}
  memberOf: [team-pay]
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {memberOf: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  namespace: default
  title: Checkout
  description: Takes orders.
  labels: {tier: "1"}
  annotations: {github.com/project-slug: example/checkout}
  tags: [python, pci]
  links:
    - {url: "https://grafana.example.com/d/checkout", title: Dashboard, type: dashboard}
spec:
  type: service
  lifecycle: production
  owner: team-pay
  system: payments
  dependsOn: [component:ledger, resource:orders-db]
  providesApis: [checkout-api]
  consumesApis: [payments-api]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: ledger}
spec:
  type: service
  lifecycle: production
  owner: team-pay
  subcomponentOf: checkout
  dependencyOf: [component:reports]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: reports}
spec: {type: service, lifecycle: experimental, owner: team-pay}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: checkout-api}
spec: {type: openapi, lifecycle: production, owner: team-pay, system: payments, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: payments-api}
spec: {type: grpc, lifecycle: production, owner: team-pay, definition: "service Payments {}"}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: orders-db}
spec: {type: database, owner: team-pay, system: payments, dependsOn: [resource:backups], dependencyOf: []}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: backups}
spec: {type: s3-bucket, owner: team-pay}
"""


def relations() -> set[tuple[str, str, str]]:
    return set(Relation.objects.values_list("source_ref", "type", "target_ref"))


def test_every_kind_and_field_is_read(import_text):
    result = import_text(FULL)
    assert result.problems == []
    assert len(result.created) == 14
    checkout = entity("component:default/checkout")
    assert checkout.kind == Kind.COMPONENT
    assert (checkout.title, checkout.description) == ("Checkout", "Takes orders.")
    assert (checkout.spec_type, checkout.lifecycle) == ("service", "production")
    assert checkout.labels == {"tier": "1"}
    assert checkout.annotations == {"github.com/project-slug": "example/checkout"}
    assert checkout.tags == ["python", "pci"]
    assert checkout.links[0]["type"] == "dashboard"
    assert checkout.owner_ref == "group:default/team-pay"
    assert checkout.system_ref == "system:default/payments"
    assert entity("api:default/checkout-api").spec["definition"] == "openapi: 3.0.0"
    assert entity("group:default/org").spec["profile"]["email"] == "org@example.com"
    assert entity("user:default/bob").spec["profile"]["displayName"] == "Bob"
    assert entity("resource:default/orders-db").spec_type == "database"


RELATION_PAIRS = [
    # (source, type, target) and its reverse, each from a different spec field
    ("component:default/checkout", "ownedBy", "group:default/team-pay", "ownerOf"),
    ("component:default/checkout", "partOf", "system:default/payments", "hasPart"),
    ("component:default/ledger", "partOf", "component:default/checkout", "hasPart"),
    ("component:default/checkout", "providesApi", "api:default/checkout-api", "apiProvidedBy"),
    ("component:default/checkout", "consumesApi", "api:default/payments-api", "apiConsumedBy"),
    ("component:default/checkout", "dependsOn", "component:default/ledger", "dependencyOf"),
    ("component:default/checkout", "dependsOn", "resource:default/orders-db", "dependencyOf"),
    ("component:default/ledger", "dependencyOf", "component:default/reports", "dependsOn"),
    ("resource:default/orders-db", "dependsOn", "resource:default/backups", "dependencyOf"),
    ("api:default/checkout-api", "partOf", "system:default/payments", "hasPart"),
    ("system:default/payments", "partOf", "domain:default/payments-domain", "hasPart"),
    ("domain:default/payments-domain", "partOf", "domain:default/commerce", "hasPart"),
    ("system:default/payments", "ownedBy", "group:default/org", "ownerOf"),
    ("group:default/team-pay", "childOf", "group:default/org", "parentOf"),
    ("group:default/org", "parentOf", "group:default/team-pay", "childOf"),
    ("group:default/team-pay", "hasMember", "user:default/alice", "memberOf"),
    ("user:default/bob", "memberOf", "group:default/team-pay", "hasMember"),
]


@pytest.mark.parametrize(("source", "type_", "target", "reverse"), RELATION_PAIRS)
def test_every_relation_is_kept_in_both_directions(import_text, source, type_, target, reverse):
    import_text(FULL)
    rows = relations()
    assert (source, type_, target) in rows
    assert (target, reverse, source) in rows
    forward = Relation.objects.filter(source_ref=source, type=type_, target_ref=target).first()
    assert forward.source == entity(source) and forward.target == entity(target)


def test_a_relation_to_a_missing_entity_is_kept_unresolved_and_resolves_when_it_appears(import_text):
    import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: web}
        spec: {type: website, lifecycle: production, owner: team-late, dependsOn: [component:api-late]}
        """,
        name="one",
    )
    owned_by = Relation.objects.get(source_ref="component:default/web", type="ownedBy")
    assert owned_by.target is None and not owned_by.is_resolved
    reverse = Relation.objects.get(type="ownerOf", target_ref="component:default/web")
    assert reverse.source is None
    import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: team-late}
        spec: {type: team}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: api-late}
        spec: {type: service, lifecycle: production, owner: team-late}
        """,
        name="two",
    )
    owned_by.refresh_from_db()
    reverse.refresh_from_db()
    assert owned_by.target == entity("group:default/team-late")
    assert reverse.source == entity("group:default/team-late")
    depends = Relation.objects.get(source_ref="component:default/web", type="dependsOn")
    assert depends.target == entity("component:default/api-late")


def test_re_importing_unchanged_yaml_changes_nothing(import_text):
    import_text(FULL)
    before = {e.ref_key: e.updated_at for e in Entity.objects.all()}
    relation_ids = set(Relation.objects.values_list("id", flat=True))
    result = import_text(FULL)
    assert (result.created, result.updated, result.orphaned) == ([], [], [])
    assert result.unchanged == 14
    assert {e.ref_key: e.updated_at for e in Entity.objects.all()} == before
    assert set(Relation.objects.values_list("id", flat=True)) == relation_ids


def test_a_changed_entity_is_updated_and_its_relations_replaced(import_text):
    import_text(FULL)
    changed = FULL.replace("dependsOn: [component:ledger, resource:orders-db]", "dependsOn: [component:reports]")
    result = import_text(changed)
    assert result.updated == ["component:default/checkout"]
    rows = relations()
    assert ("component:default/checkout", "dependsOn", "component:default/reports") in rows
    assert ("component:default/checkout", "dependsOn", "component:default/ledger") not in rows
    assert ("component:default/ledger", "dependencyOf", "component:default/checkout") not in rows


def test_entities_that_vanish_from_a_source_are_orphaned_not_deleted(import_text, platform_admin):
    import_text(FULL)
    without_reports = FULL.replace(
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: reports}\n"
        "spec: {type: service, lifecycle: experimental, owner: team-pay}\n",
        "",
    )
    result = import_text(without_reports)
    assert result.orphaned == ["component:default/reports"]
    assert entity("component:default/reports").orphaned
    # it comes back when the source has it again
    result = import_text(FULL)
    assert result.updated == ["component:default/reports"]
    assert not entity("component:default/reports").orphaned
    import_text(without_reports)
    assert services.orphans_delete(actor=platform_admin) == 1
    assert not Entity.objects.filter(ref_key="component:default/reports").exists()
    # its relation from ledger is kept, unresolved
    kept = Relation.objects.get(source_ref="component:default/ledger", target_ref="component:default/reports")
    assert kept.type == "dependencyOf" and kept.target is None


def test_only_platform_admins_delete_orphans(developer):
    with pytest.raises(services.PermissionDenied):
        services.orphans_delete(actor=developer)


def test_names_are_unique_per_kind_and_namespace_case_insensitively(import_text):
    import_text(FULL)
    result = import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: component
        metadata: {name: CHECKOUT}
        spec: {type: service, lifecycle: production, owner: team-pay}
        """,
        name="other",
    )
    # The same entity from another source: a conflict (the first source owns it), not a second entity.
    assert [c["entity"] for c in result.conflicts] == ["component:default/checkout"]
    assert Entity.objects.filter(kind=Kind.COMPONENT, name__iexact="checkout").count() == 1
    assert entity("component:default/checkout").name == "checkout"
    # the same name in another kind or namespace is another entity
    import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: System
        metadata: {name: checkout}
        spec: {owner: team-pay}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: checkout, namespace: other}
        spec: {type: service, lifecycle: production, owner: default/team-pay}
        """,
        name="third",
    )
    assert Entity.objects.filter(name__iexact="checkout").count() == 3
    assert entity("component:other/checkout").owner_ref == "group:default/team-pay"


def test_references_take_the_default_kind_and_the_entity_namespace(import_text):
    import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: svc, namespace: shop}
        spec:
          type: service
          lifecycle: production
          owner: team-x
          system: other/sys
          providesApis: [api:default/public]
          consumesApis: [{kind: API, namespace: ext, name: Geo}]
        """
    )
    rows = relations()
    assert ("component:shop/svc", "ownedBy", "group:shop/team-x") in rows
    assert ("component:shop/svc", "partOf", "system:other/sys") in rows
    assert ("component:shop/svc", "providesApi", "api:default/public") in rows
    assert ("component:shop/svc", "consumesApi", "api:ext/geo") in rows


# --- bad input -----------------------------------------------------------------------


def test_invalid_yaml_is_reported_with_line_and_column_and_earlier_documents_still_import(import_text):
    result = import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: fine}
        spec: {type: team}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: [broken
        """,
        name="broken.yaml",
    )
    assert Entity.objects.filter(ref_key="group:default/fine").exists()
    (problem,) = result.problems
    assert problem.file == "broken.yaml"
    assert problem.document == 2
    assert problem.line == 9 and problem.column is not None
    assert "invalid YAML" in problem.reason
    assert "line 9" in str(problem)


def test_a_yaml_error_points_at_the_broken_line_not_at_the_separator_where_the_parser_gave_up(import_text):
    result = import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: checkout
          description: "Takes orders
        spec:
          type: service
          lifecycle: production
          owner: team-a
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: fine}
        spec: {type: team}
        """,
        name="catalog-info.yaml",
    )
    (problem,) = result.problems
    assert (problem.line, problem.column) == (5, 16)
    assert "quoted scalar" in problem.reason and "line 10" in problem.reason
    assert "line 5, column 16" in str(problem)


def test_a_large_file_is_read_in_batches_with_document_numbers_and_errors_kept(settings):
    from catalog.descriptors import DOCUMENT_BATCH

    group = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {{name: g-{}}}\nspec: {{type: team}}\n"
    documents = [group.format(i) for i in range(2 * DOCUMENT_BATCH + 10)]
    documents[DOCUMENT_BATCH + 4] = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: -bad-}\n"
    documents.append("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: [broken\n")
    result = services.catalog_import_text(text="---\n" + "---\n".join(documents), name="big.yaml")
    problems = {(p.document, p.field) for p in result.problems}
    assert (DOCUMENT_BATCH + 5, "metadata.name") in problems
    syntax = [p for p in result.problems if "invalid YAML" in p.reason]
    assert [p.document for p in syntax] == [2 * DOCUMENT_BATCH + 11]
    assert Entity.objects.filter(kind=Kind.GROUP).count() == 2 * DOCUMENT_BATCH + 9
    assert Entity.objects.filter(ref_key=f"group:default/g-{2 * DOCUMENT_BATCH + 9}").exists()


@pytest.mark.parametrize(
    ("document", "field", "reason"),
    [
        ("- just\n- a list\n", "", "must be a mapping"),
        ("hello\n", "", "must be a mapping"),
        ("apiVersion: backstage.io/v1alpha1\nkind: Widget\nmetadata: {name: w}\n", "kind", "unknown kind 'Widget'"),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: -bad-}\nspec: {type: t}\n",
            "metadata.name",
            "not a valid name",
        ),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: " + "a" * 64 + "}\nspec: {type: t}\n",
            "metadata.name",
            "not a valid name",
        ),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c}\n"
            "spec: {type: service, lifecycle: production, owner: 'group:bad name'}\n",
            "spec.owner",
            "invalid name",
        ),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c}\n"
            "spec: {type: service, lifecycle: production, owner: o, dependsOn: [ledger]}\n",
            "spec.dependsOn[0]",
            "needs a kind",
        ),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c}\nspec: {type: service}\n",
            "spec.lifecycle",
            "is required",
        ),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: a}\n"
            "spec: {type: openapi, lifecycle: production, owner: o}\n",
            "spec.definition",
            "is required",
        ),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: g, tags: [Bad Tag]}\nspec: {type: t}\n",
            "metadata.tags",
            "not a valid tag",
        ),
        (  # PostgreSQL cannot store a NUL in text or JSON: the import failed with a DataError
            'apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c, description: "a\\0b"}\n'
            "spec: {type: service, lifecycle: production, owner: o}\n",
            "metadata.description",
            "contains a NUL character",
        ),
        (
            'apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: g, annotations: {"x\\u0000y": v}}\n'
            "spec: {type: t}\n",
            "metadata.annotations.x\\0y",
            "contains a NUL character",
        ),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: g}\n"
            'spec: {type: t, members: [a, "\\x00"]}\n',
            "spec.members[1]",
            "contains a NUL character",
        ),
        ("apiVersion: v9\nkind: Group\nmetadata: {name: g}\nspec: {type: t}\n", "apiVersion", "is not one of"),
        ("kind: Group\nmetadata: {name: g}\nspec: {type: t}\n", "apiVersion", "is required"),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\nspec: {}\n",
            "spec.target",
            "needs a target",
        ),
    ],
)
def test_an_invalid_document_is_reported_with_its_field_and_the_valid_ones_still_import(
    import_text, document, field, reason
):
    valid = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: ok}\nspec: {type: team}\n"
    result = services.catalog_import_text(text=valid + "---\n" + document, name="mixed.yaml")
    assert Entity.objects.filter(ref_key="group:default/ok").exists()
    (problem,) = result.problems
    assert (problem.file, problem.document, problem.field) == ("mixed.yaml", 2, field)
    assert reason in problem.reason
    assert Entity.objects.count() == 1


def test_the_same_entity_twice_in_one_import_keeps_the_first_and_reports_the_later(import_text):
    result = import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: twin, title: First}
        spec: {type: team}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: Twin, title: Second}
        spec: {type: team}
        """
    )
    assert entity("group:default/twin").title == "First"
    (problem,) = result.problems
    assert problem.document == 2 and "appears twice" in problem.reason


def test_a_changed_copy_before_the_unchanged_one_still_wins_as_the_first(import_text):
    # The unchanged copy is recognised by its text without being parsed; the first copy still wins.
    other = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: other}\nspec: {type: team}\n"
    twin = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: twin, title: %s}\nspec: {type: team}\n"
    import_text(f"{other}---\n{twin % 'Original'}")
    result = import_text(f"{other}---\n{twin % 'Edited'}---\n{twin % 'Original'}")
    assert result.updated == ["group:default/twin"]
    assert entity("group:default/twin").title == "Edited"
    (problem,) = result.problems
    assert problem.document == 3 and "appears twice" in problem.reason and "first in document 2" in problem.reason


def test_re_importing_a_location_unchanged_still_follows_its_targets(repo, platform_admin):
    services.catalog_import_paths(paths=[str(repo / "locations" / "all.yaml")], actor=platform_admin)
    result = services.catalog_import_paths(paths=[str(repo / "locations" / "all.yaml")], actor=platform_admin)
    assert (result.problems, result.created, result.updated, result.orphaned) == ([], [], [], [])
    assert result.unchanged == 4
    assert len(result.files) > 1


def test_one_document_changed_in_a_large_file_updates_only_that_entity(import_text):
    docs = [
        f"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {{name: team-{i}}}\nspec: {{type: team}}"
        for i in range(1500)
    ]
    import_text("\n---\n".join(docs))
    docs[1200] = docs[1200].replace("{name: team-1200}", "{name: team-1200, title: Renamed}")
    result = import_text("\n---\n".join(docs))
    assert (result.created, result.updated, result.orphaned, result.unchanged) == (
        [],
        ["group:default/team-1200"],
        [],
        1499,
    )
    assert entity("group:default/team-1200").title == "Renamed"


def test_text_over_the_upload_limit_is_refused(settings):
    settings.CATALOG_UPLOAD_MAX_BYTES = 100
    with pytest.raises(services.ServiceError, match="larger than the limit"):
        services.catalog_import_text(text=b"# " + b"x" * 200)
    assert Entity.objects.count() == 0


def test_a_folder_outside_the_import_roots_is_refused(tmp_path, settings, platform_admin):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: g}\nspec: {type: team}\n"
    )
    settings.CATALOG_IMPORT_ROOTS = [str(root)]
    for path in (str(outside), str(root / ".." / "outside")):
        result = services.catalog_import_paths(paths=[path], actor=platform_admin)
        assert "outside the import roots" in result.problems[0].reason
    assert Entity.objects.count() == 0


# --- folders, Locations, substitutions ------------------------------------------------


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text))


@pytest.fixture
def repo(tmp_path, settings):
    settings.CATALOG_IMPORT_ROOTS = [str(tmp_path)]
    write(
        tmp_path / "svc-one" / "catalog-info.yaml",
        """
        apiVersion: backstage.io/v1alpha1
        kind: API
        metadata: {name: one-api}
        spec:
          type: openapi
          lifecycle: production
          owner: team
          definition:
            $text: ./openapi.yaml
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: one}
        spec:
          type: service
          lifecycle: production
          owner: team
          profile:
            $json: ./extra.json
          settings:
            $yaml: ./settings.yaml
        """,
    )
    write(tmp_path / "svc-one" / "openapi.yaml", "openapi: 3.0.0\ninfo: {title: One, version: '1'}\n")
    (tmp_path / "svc-one" / "extra.json").write_text(json.dumps({"a": 1}))
    write(tmp_path / "svc-one" / "settings.yaml", "replicas: 3\n")
    write(
        tmp_path / "deep" / "nested" / "svc-two" / "catalog-info.yaml",
        """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: two}
        spec: {type: service, lifecycle: production, owner: team}
        """,
    )
    write(
        tmp_path / "locations" / "all.yaml",
        """
        apiVersion: backstage.io/v1alpha1
        kind: Location
        metadata: {name: everything}
        spec:
          type: file
          target: ./extra/three.yaml
          targets: [./extra/four.yaml, ./globbed/*.yaml]
        """,
    )
    write(
        tmp_path / "locations" / "extra" / "three.yaml",
        """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: three}
        spec: {type: service, lifecycle: production, owner: team}
        """,
    )
    write(
        tmp_path / "locations" / "extra" / "four.yaml",
        """
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: team}
        spec: {type: team}
        """,
    )
    write(
        tmp_path / "locations" / "globbed" / "five.yaml",
        """
        apiVersion: backstage.io/v1alpha1
        kind: Resource
        metadata: {name: five}
        spec: {type: database, owner: team}
        """,
    )
    return tmp_path


def test_a_folder_import_finds_every_catalog_info_yaml_below_it(repo, platform_admin):
    result = services.catalog_import_paths(paths=[str(repo)], actor=platform_admin)
    assert result.problems == []
    assert sorted(result.created) == ["api:default/one-api", "component:default/one", "component:default/two"]


def test_text_json_and_yaml_substitutions_read_local_files(repo, platform_admin):
    services.catalog_import_paths(paths=[str(repo / "svc-one")], actor=platform_admin)
    assert entity("api:default/one-api").spec["definition"].startswith("openapi: 3.0.0")
    one = entity("component:default/one")
    assert one.spec["profile"] == {"a": 1}
    assert one.spec["settings"] == {"replicas": 3}


def test_a_substitution_outside_the_root_or_in_pasted_yaml_is_refused(repo, platform_admin, import_text):
    write(
        repo / "bad" / "catalog-info.yaml",
        """
        apiVersion: backstage.io/v1alpha1
        kind: API
        metadata: {name: sneaky}
        spec: {type: openapi, lifecycle: production, owner: team, definition: {$text: ../../../../etc/passwd}}
        """,
    )
    result = services.catalog_import_paths(paths=[str(repo / "bad")], actor=platform_admin)
    assert "outside the import root" in result.problems[0].reason
    result = import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: API
        metadata: {name: pasted}
        spec: {type: openapi, lifecycle: production, owner: team, definition: {$text: ./openapi.yaml}}
        """
    )
    assert "import a folder" in result.problems[0].reason
    assert not Entity.objects.filter(name__in=["sneaky", "pasted"]).exists()


def test_location_targets_are_followed_relative_to_their_file(repo, platform_admin):
    result = services.catalog_import_paths(paths=[str(repo / "locations" / "all.yaml")], actor=platform_admin)
    assert result.problems == []
    assert sorted(result.created) == [
        "component:default/three",
        "group:default/team",
        "location:default/everything",
        "resource:default/five",
    ]


def test_a_file_removed_from_a_folder_orphans_its_entities(repo, platform_admin):
    services.catalog_import_paths(paths=[str(repo)], actor=platform_admin)
    (repo / "deep" / "nested" / "svc-two" / "catalog-info.yaml").unlink()
    result = services.catalog_import_paths(paths=[str(repo)], actor=platform_admin)
    assert result.orphaned == ["component:default/two"]
    assert result.unchanged == 2


def test_an_entity_renamed_in_a_folder_import_is_orphaned_once(repo, platform_admin):
    services.catalog_import_paths(paths=[str(repo)], actor=platform_admin)
    path = repo / "deep" / "nested" / "svc-two" / "catalog-info.yaml"
    path.write_text(path.read_text().replace("{name: two}", "{name: two-renamed}"))
    result = services.catalog_import_paths(paths=[str(repo)], actor=platform_admin)
    assert result.created == ["component:default/two-renamed"]
    assert result.orphaned == ["component:default/two"]


def test_a_file_with_one_invalid_document_still_orphans_what_it_no_longer_lists(import_text):
    three = """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: kept}
        spec: {type: service, lifecycle: production, owner: team-a}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: broken-now}
        spec: {type: service, lifecycle: production, owner: team-a}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: removed}
        spec: {type: service, lifecycle: production, owner: team-a}
        """
    import_text(three, name="svc.yaml")
    # broken-now loses its lifecycle (invalid), removed is no longer listed.
    two = three.split("---")[0] + "---" + three.split("---")[1].replace("lifecycle: production, ", "")
    result = import_text(two, name="svc.yaml")
    assert [p.entity for p in result.problems] == ["component:broken-now"]
    assert result.orphaned == ["component:default/removed"]
    assert not entity("component:default/broken-now").orphaned  # still listed: kept as it was


def test_developers_may_not_import_from_server_folders(repo, developer):
    with pytest.raises(services.PermissionDenied):
        services.catalog_import_paths(paths=[str(repo)], actor=developer)


def test_a_team_member_may_import_only_entities_their_team_owns(team, developer, import_text):
    result = import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: mine}
        spec: {type: service, lifecycle: production, owner: team-a}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: svc-b, description: hijacked}
        spec: {type: service, lifecycle: production, owner: team-a}
        """,
        actor=developer,
    )
    assert result.created == ["component:default/mine"]
    assert result.problems[0].entity == "component:default/svc-b"
    assert entity("component:default/svc-b").description == ""


def test_the_import_command_reads_files_and_folders(repo, capsys):
    call_command("catalog_import", str(repo), str(repo / "locations" / "all.yaml"))
    out = capsys.readouterr().out
    assert "7 created" in out
    call_command("catalog_import", str(repo))
    assert "0 created, 0 updated, 3 unchanged" in capsys.readouterr().out


def test_the_import_command_fails_when_nothing_could_be_imported(tmp_path):
    (tmp_path / "bad.yaml").write_text("a: [")
    with pytest.raises(CommandError):
        call_command("catalog_import", str(tmp_path / "bad.yaml"))


def test_the_import_is_written_to_the_audit_log(import_text, platform_admin):
    from portal.models import AuditEvent

    import_text(FULL, actor=platform_admin)
    event = AuditEvent.objects.get(action="catalog.import")
    assert event.changes["created"] == 14 and event.actor == platform_admin


def test_a_file_over_the_limit_is_refused_from_the_web_but_read_by_the_command(repo, platform_admin, settings):
    settings.CATALOG_UPLOAD_MAX_BYTES = 50
    result = services.catalog_import_paths(paths=[str(repo / "deep")], actor=platform_admin)
    assert "larger than 50 bytes" in result.problems[0].reason
    assert not Entity.objects.exists()
    result = services.catalog_import_paths(paths=[str(repo / "deep")], restrict_to_roots=False)
    assert result.created == ["component:default/two"]
