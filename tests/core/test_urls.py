from beacon.contextual.fetch import normalize_url as fetch_normalize_url
from beacon.core.urls import TRACKING_PARAMS, is_tracking_param, normalize_page_url, normalize_url


def test_one_tracking_list_for_pages_and_fetched_urls() -> None:
    assert fetch_normalize_url is normalize_url
    query = "&".join(f"{name}=1" for name in sorted(TRACKING_PARAMS))
    assert normalize_page_url(f"https://a.example/p?k=2&{query}&UTM_x=3") == (
        "https://a.example/p?k=2"
    )
    assert normalize_url(f"https://a.example/p?{query}&k=2&utm_x=3") == "https://a.example/p?k=2"
    assert is_tracking_param("Utm_Campaign") and is_tracking_param("TWCLID")
    assert not is_tracking_param("utm") and not is_tracking_param("id")


def test_page_urls_keep_their_query_order_and_encoding() -> None:
    url = "HTTPS://News.Example.COM:443/a%20b?z=1&igshid=x&a=%2F#frag"
    assert normalize_page_url(url) == "https://news.example.com/a%20b?z=1&a=%2F"
    assert normalize_page_url("ftp://example.com/") == ""
