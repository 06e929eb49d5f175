"""Which groups Bridge reads from the provider's claims (``OIDC_GROUPS_CLAIM``), whatever their shape."""

from portal.accounts.services import claim_at, groups_from

KEYCLOAK_CLAIMS = {
    "sub": "alice",
    "realm_access": {"roles": ["eng-payments", "offline_access", "engineering"]},
    "resource_access": {"bridge": {"roles": ["viewer"]}},
}


def test_keycloaks_realm_roles_are_read_through_a_dotted_path(settings):
    settings.OIDC_GROUPS_CLAIM = "realm_access.roles"
    assert groups_from(KEYCLOAK_CLAIMS) == ["eng-payments", "engineering", "offline_access"]


def test_a_dotted_path_reaches_a_clients_roles_too(settings):
    settings.OIDC_GROUPS_CLAIM = "resource_access.bridge.roles"
    assert groups_from(KEYCLOAK_CLAIMS) == ["viewer"]


def test_a_claim_whose_name_has_dots_is_read_whole_before_it_is_split():
    claims = {"https://example.com/groups": ["admins"], "https://example": {"com/groups": ["wrong"]}}
    assert claim_at(claims, "https://example.com/groups") == ["admins"]


def test_a_group_sent_as_a_single_string_is_one_group(settings):
    settings.OIDC_GROUPS_CLAIM = "groups"
    assert groups_from({"sub": "alice", "groups": "eng-payments"}) == ["eng-payments"]
    settings.OIDC_GROUPS_CLAIM = "realm_access.roles"
    assert groups_from({"sub": "alice", "realm_access": {"roles": "eng-payments"}}) == ["eng-payments"]


def test_a_missing_claim_means_no_groups(settings):
    settings.OIDC_GROUPS_CLAIM = "realm_access.roles"
    assert groups_from({"sub": "alice"}) == []
    assert groups_from({"sub": "alice", "realm_access": {}}) == []
    assert groups_from({"sub": "alice", "realm_access": ["not", "an", "object"]}) == []
    settings.OIDC_GROUPS_CLAIM = "groups"
    assert groups_from(KEYCLOAK_CLAIMS) == []
