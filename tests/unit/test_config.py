"""Settings from the environment: the defaults that decide safety."""

from blockhook.config import load_settings


def test_without_a_mode_the_cloud_url_policy_applies():
    # A function deployed without BLOCKHOOK_MODE must refuse private webhook targets (SSRF).
    assert load_settings({}).mode == "cloud"
    assert load_settings({}).allow_private_webhooks is False
    assert load_settings({"BLOCKHOOK_MODE": ""}).allow_private_webhooks is False


def test_local_mode_allows_loopback_receivers():
    assert load_settings({"BLOCKHOOK_MODE": "local"}).allow_private_webhooks is True
