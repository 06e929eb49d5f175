from django.conf import settings


def test_the_tests_use_their_own_broker_folder_not_the_running_portals():
    assert settings.BROKER_DATA_DIR.name == "test-broker"
