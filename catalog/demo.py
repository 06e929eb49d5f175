"""Demo catalog for ``seed_demo``: teams in a hierarchy, domains, systems, components, APIs, resources."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from catalog.descriptors import dump_documents

GROUPS = [
    # name, title, type, parent, description
    ("engineering", "Engineering", "organization", None, "Everyone who builds and runs our products."),
    ("commerce", "Commerce", "department", "engineering", "Storefront, checkout and payments."),
    ("platform", "Platform", "department", "engineering", "The platform every team builds on."),
    ("team-payments", "Payments team", "team", "commerce", "Owns checkout and payment services."),
    ("team-storefront", "Storefront team", "team", "commerce", "Owns the web shop and product search."),
    ("team-platform", "Platform team", "team", "platform", "Runs clusters, CI and the developer portal."),
    ("team-identity", "Identity team", "team", "platform", "Sign-in, accounts and permissions."),
]
USERS = [
    # name, display name, email, groups
    ("developer", "Dana Developer", "developer@example.com", ["team-payments"]),
    ("approver", "Alex Approver", "approver@example.com", ["team-platform"]),
    ("admin", "Ada Admin", "admin@example.com", ["team-platform", "team-identity"]),
    ("sam", "Sam Storefront", "sam@example.com", ["team-storefront"]),
    ("priya", "Priya Payments", "priya@example.com", ["team-payments"]),
]
DOMAINS = [
    ("commerce", "Commerce", "team-payments", None, "Buying things: catalogue, basket, checkout, payment."),
    ("platform", "Platform", "team-platform", None, "Shared infrastructure and developer tooling."),
    ("payments", "Payments", "team-payments", "commerce", "Money movement: charges, refunds, payouts."),
]
SYSTEMS = [
    ("payments", "Payments", "team-payments", "payments", "Charges cards and pays merchants out."),
    ("storefront", "Storefront", "team-storefront", "commerce", "The web shop customers use."),
    ("identity", "Identity", "team-identity", "platform", "Accounts, sign-in and tokens."),
    ("delivery", "Delivery platform", "team-platform", "platform", "CI/CD, clusters and the portal."),
]
# name, type, lifecycle, owner, system, description, tags, dependsOn, providesApis, consumesApis
COMPONENTS = [
    (
        "checkout-api",
        "service",
        "production",
        "team-payments",
        "payments",
        "Takes orders and hands them to payments.",
        ["python", "django"],
        ["component:payments-service", "resource:orders-db"],
        ["checkout"],
        ["payments", "accounts"],
    ),
    (
        "payments-service",
        "service",
        "production",
        "team-payments",
        "payments",
        "Charges cards through the provider.",
        ["java", "pci"],
        ["resource:payments-db", "resource:events"],
        ["payments"],
        ["fraud"],
    ),
    (
        "refunds-worker",
        "service",
        "production",
        "team-payments",
        "payments",
        "Processes refunds from a queue.",
        ["python", "celery"],
        ["component:payments-service", "resource:events"],
        [],
        ["payments"],
    ),
    (
        "payouts-service",
        "service",
        "experimental",
        "team-payments",
        "payments",
        "Pays merchants out daily.",
        ["go"],
        ["resource:payments-db"],
        ["payouts"],
        [],
    ),
    (
        "fraud-scoring",
        "service",
        "production",
        "team-payments",
        "payments",
        "Scores each charge for fraud risk.",
        ["python", "ml"],
        ["resource:events"],
        ["fraud"],
        [],
    ),
    (
        "ledger",
        "service",
        "production",
        "team-payments",
        "payments",
        "Double-entry ledger of every money movement.",
        ["go", "pci"],
        ["resource:payments-db"],
        [],
        [],
    ),
    (
        "payments-dashboard",
        "website",
        "production",
        "team-payments",
        "payments",
        "Internal view of payments.",
        ["typescript", "react"],
        [],
        [],
        ["payments", "payouts"],
    ),
    (
        "webshop",
        "website",
        "production",
        "team-storefront",
        "storefront",
        "The customer-facing web shop.",
        ["typescript", "nextjs"],
        ["component:product-search"],
        [],
        ["checkout", "catalogue", "accounts"],
    ),
    (
        "product-catalogue",
        "service",
        "production",
        "team-storefront",
        "storefront",
        "Products, prices and stock.",
        ["python", "django"],
        ["resource:catalogue-db"],
        ["catalogue"],
        [],
    ),
    (
        "product-search",
        "service",
        "production",
        "team-storefront",
        "storefront",
        "Full-text product search.",
        ["java", "opensearch"],
        ["component:product-catalogue", "resource:search-cluster"],
        [],
        ["catalogue"],
    ),
    (
        "recommendations",
        "service",
        "experimental",
        "team-storefront",
        "storefront",
        "Products you may also like.",
        ["python", "ml"],
        ["resource:events"],
        [],
        ["catalogue"],
    ),
    (
        "image-resizer",
        "service",
        "production",
        "team-storefront",
        "storefront",
        "Resizes product images on demand.",
        ["go"],
        ["resource:assets-bucket"],
        [],
        [],
    ),
    (
        "mobile-app",
        "mobile",
        "production",
        "team-storefront",
        "storefront",
        "The iOS and Android shop app.",
        ["kotlin", "swift"],
        [],
        [],
        ["checkout", "catalogue", "accounts"],
    ),
    (
        "accounts-service",
        "service",
        "production",
        "team-identity",
        "identity",
        "Customer accounts and profiles.",
        ["python", "django"],
        ["resource:accounts-db"],
        ["accounts"],
        [],
    ),
    (
        "auth-gateway",
        "service",
        "production",
        "team-identity",
        "identity",
        "Sign-in, OAuth2 and session tokens.",
        ["go", "security"],
        ["component:accounts-service"],
        ["auth"],
        [],
    ),
    (
        "permissions-service",
        "service",
        "experimental",
        "team-identity",
        "identity",
        "Fine-grained permissions.",
        ["rust"],
        ["resource:accounts-db"],
        [],
        ["accounts"],
    ),
    (
        "bridge-portal",
        "website",
        "production",
        "team-platform",
        "delivery",
        "This developer portal.",
        ["python", "django"],
        ["resource:portal-db"],
        [],
        ["auth"],
    ),
    (
        "ci-runners",
        "service",
        "production",
        "team-platform",
        "delivery",
        "Autoscaled CI runners.",
        ["terraform"],
        [],
        [],
        [],
    ),
    (
        "deploy-bot",
        "service",
        "production",
        "team-platform",
        "delivery",
        "Posts deploys to chat and tracks them.",
        ["python"],
        ["component:ci-runners"],
        [],
        [],
    ),
    (
        "ingress-controller",
        "service",
        "production",
        "team-platform",
        "delivery",
        "Routes traffic into the clusters.",
        ["kubernetes"],
        [],
        [],
        [],
    ),
    (
        "observability-stack",
        "service",
        "production",
        "team-platform",
        "delivery",
        "Metrics, logs and traces.",
        ["prometheus", "grafana"],
        [],
        [],
        [],
    ),
    (
        "legacy-billing",
        "service",
        "deprecated",
        "team-payments",
        "payments",
        "The old billing monolith, retiring.",
        ["php"],
        ["resource:payments-db"],
        [],
        ["payments"],
    ),
    (
        "payments-sdk",
        "library",
        "production",
        "team-payments",
        "payments",
        "Client library for the payments API.",
        ["python"],
        [],
        [],
        ["payments"],
    ),
    (
        "ui-kit",
        "library",
        "production",
        "team-storefront",
        "storefront",
        "Shared React components.",
        ["typescript", "react"],
        [],
        [],
        [],
    ),
]
APIS = [
    ("checkout", "Checkout API", "team-payments", "payments", "Create and confirm orders.", "/orders"),
    ("payments", "Payments API", "team-payments", "payments", "Charge, capture and refund.", "/charges"),
    ("payouts", "Payouts API", "team-payments", "payments", "Merchant payouts.", "/payouts"),
    ("fraud", "Fraud scoring API", "team-payments", "payments", "Risk score of a charge.", "/scores"),
    ("catalogue", "Catalogue API", "team-storefront", "storefront", "Products, prices, stock.", "/products"),
    ("accounts", "Accounts API", "team-identity", "identity", "Customer accounts.", "/accounts"),
    ("auth", "Auth API", "team-identity", "identity", "OAuth2 tokens and sessions.", "/token"),
]
RESOURCES = [
    ("payments-db", "database", "team-payments", "payments", "PostgreSQL cluster of payments and the ledger."),
    ("orders-db", "database", "team-payments", "payments", "PostgreSQL database of orders."),
    ("catalogue-db", "database", "team-storefront", "storefront", "PostgreSQL database of products."),
    ("accounts-db", "database", "team-identity", "identity", "PostgreSQL database of accounts."),
    ("portal-db", "database", "team-platform", "delivery", "The portal's PostgreSQL database."),
    ("events", "kafka-topic", "team-platform", "delivery", "The shared event stream."),
    ("search-cluster", "opensearch", "team-storefront", "storefront", "OpenSearch cluster behind product search."),
    ("assets-bucket", "s3-bucket", "team-storefront", "storefront", "Product images."),
]


def _openapi(title: str, description: str, path: str) -> str:
    return (
        "openapi: 3.0.3\n"
        f"info:\n  title: {title}\n  version: 1.0.0\n  description: {description}\n"
        "paths:\n"
        f"  {path}:\n"
        "    get:\n      summary: List\n      responses:\n        '200':\n          description: OK\n"
        "    post:\n      summary: Create\n      responses:\n        '201':\n          description: Created\n"
        f"  {path}/{{id}}:\n"
        "    get:\n      summary: Fetch one\n      parameters:\n"
        "        - {name: id, in: path, required: true, schema: {type: string}}\n"
        "      responses:\n        '200':\n          description: OK\n"
        "        '404':\n          description: Not found\n"
    )


def _doc(kind: str, name: str, spec: dict, **metadata) -> dict:
    meta = {"name": name, **{k: v for k, v in metadata.items() if v}}
    return {"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}


def demo_files(extra_users: list[str] | tuple = ()) -> dict[str, str]:
    """The demo catalog as Backstage YAML files (name -> text); extra users join the payments team."""
    org = []
    for name, title, type_, parent, description in GROUPS:
        spec = {"type": type_, "children": [c[0] for c in GROUPS if c[3] == name]}
        if parent:
            spec["parent"] = parent
        org.append(_doc("Group", name, spec, title=title, description=description))
    known = {u[0] for u in USERS}
    extra = [
        (name, name.title(), f"{name}@example.com", ["team-payments"]) for name in extra_users if name not in known
    ]
    for name, display, email, groups in USERS + extra:
        org.append(_doc("User", name, {"profile": {"displayName": display, "email": email}, "memberOf": groups}))
    systems = [
        _doc(
            "Domain",
            name,
            {"owner": owner, **({"subdomainOf": parent} if parent else {})},
            title=title,
            description=description,
        )
        for name, title, owner, parent, description in DOMAINS
    ] + [
        _doc("System", name, {"owner": owner, "domain": domain}, title=title, description=description)
        for name, title, owner, domain, description in SYSTEMS
    ]
    components = []
    for name, type_, lifecycle, owner, system, description, tags, depends, provides, consumes in COMPONENTS:
        spec = {"type": type_, "lifecycle": lifecycle, "owner": owner, "system": system}
        for key, value in (("dependsOn", depends), ("providesApis", provides), ("consumesApis", consumes)):
            if value:
                spec[key] = value
        links = [
            {"url": f"https://git.example.com/{owner}/{name}", "title": "Repository", "type": "repository"},
            {"url": f"https://grafana.example.com/d/{name}", "title": "Dashboard", "type": "dashboard"},
        ]
        annotations = {"github.com/project-slug": f"example/{name}", "backstage.io/techdocs-ref": "dir:."}
        components.append(
            _doc("Component", name, spec, description=description, tags=tags, links=links, annotations=annotations)
        )
    apis = [
        _doc(
            "API",
            name,
            {
                "type": "openapi",
                "lifecycle": "production",
                "owner": owner,
                "system": system,
                "definition": _openapi(title, description, path),
            },
            title=title,
            description=description,
            tags=["rest"],
        )
        for name, title, owner, system, description, path in APIS
    ]
    resources = [
        _doc("Resource", name, {"type": type_, "owner": owner, "system": system}, description=description)
        for name, type_, owner, system, description in RESOURCES
    ]
    return {
        "org.yaml": dump_documents(org),
        "systems.yaml": dump_documents(systems),
        "components.yaml": dump_documents(components),
        "apis.yaml": dump_documents(apis),
        "resources.yaml": dump_documents(resources),
    }


def seed(log) -> None:
    from catalog import services

    users = {u.username: u for u in get_user_model().objects.filter(username__in=["developer", "approver", "admin"])}
    created = services.demo_catalog_ensure(users=users)
    log(f"catalog: {created} demo entities created" if created else "catalog: demo entities already present")
