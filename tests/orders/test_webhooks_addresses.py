"""No request to the internal network: the form of the URL, and where its host resolves."""

import pytest

from orders.webhooks import addresses


@pytest.fixture
def production(settings):
    settings.ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS = False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",  # the cloud metadata service
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT
    ],
)
def test_a_private_address_is_refused_in_production(production, url):
    assert "not a public address" in addresses.address_refusal(url)


def test_a_public_address_is_allowed(production):
    assert addresses.address_refusal("https://93.184.215.14/hook") is None


def test_a_name_that_does_not_resolve_is_refused(production):
    assert "does not resolve" in addresses.address_refusal("https://nowhere.invalid/hook")


def test_private_addresses_allowed_when_the_setting_says_so(settings):
    settings.ORDERS_WEBHOOKS_ALLOW_PRIVATE_URLS = True
    assert addresses.address_refusal("http://127.0.0.1:9000/hook") is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://93.184.215.14/x", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("http:///path", "no host"),
        ("http://user:pw@93.184.215.14/x", "user or password"),
        ("http://93.184.215.14:port/x", "port"),
    ],
)
def test_the_form_of_the_url(url, why):
    assert why in addresses.url_refusal(url)
