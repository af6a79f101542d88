"""Every page a staff member can reach from the menu opens, and back-office pages carry the security headers
(Content-Security-Policy without inline script, no framing, nosniff, referrer policy) the public widget does not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backoffice.auth import ADMIN, OFFICER, SUPERVISOR
from backoffice.web import NAV
from tests.backoffice_support import Backoffice, make_backoffice


@pytest.fixture()
def bo(tmp_path: Path) -> Backoffice:
    from knowledge_base.catalogue import Catalogue

    backoffice = make_backoffice(tmp_path)
    backoffice.app.state.catalogue = Catalogue.from_settings(backoffice.settings)  # what the app's lifespan loads
    return backoffice


def menu_links(html: str) -> list[str]:
    """The hrefs of the rendered menu, and of the brand link that goes home."""
    menu = re.search(r'<nav class="nav"[^>]*>(.*?)</nav>', html, re.S)
    assert menu is not None, "no menu on the page"
    brand = re.findall(r'<a class="brand" href="([^"]+)"', html)
    return brand + re.findall(r'href="([^"]+)"', menu.group(1))


@pytest.mark.parametrize("role", [OFFICER, SUPERVISOR, ADMIN])
def test_every_menu_link_opens_a_page_for_each_role(bo: Backoffice, role: str) -> None:
    client = bo.client(bo.add_user(f"nav-{role}", role))
    home = client.get("/admin", follow_redirects=True)
    assert home.status_code == 200
    links = menu_links(home.text)
    assert links[1:] == [item.href for item in NAV if role in item.roles]  # the menu shows what the role may open
    for href in links:
        page = client.get(href, follow_redirects=True)
        assert page.status_code == 200, (role, href, page.status_code)
        assert "/admin/login" not in str(page.url), (role, href)
        if href != "/admin":  # menu links point at the pages themselves, not at aliases
            assert page.url.path == href, (role, href, str(page.url))
        assert menu_links(page.text) == links, (role, href)  # and each of them shows the same menu


def test_the_old_handoff_address_still_leads_to_the_inbox(bo: Backoffice) -> None:
    client = bo.client(bo.add_user("nav-officer", OFFICER))
    response = client.get("/admin/handoff")
    assert response.status_code == 303 and response.headers["location"] == "/admin/handoffs"
    assert client.get("/admin/handoff", follow_redirects=True).status_code == 200


def test_back_office_responses_carry_the_security_headers(bo: Backoffice) -> None:
    client = bo.client(bo.add_user("hdr-admin", ADMIN))
    for path in ("/admin/login", "/admin/complaints", "/admin/handoffs", "/admin/dashboard", "/admin/no-such-page",
                 "/admin/static/backoffice.js"):  # fmt: skip
        response = client.get(path)
        csp = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert response.headers.get("x-frame-options") == "DENY", path
        assert response.headers.get("x-content-type-options") == "nosniff", path
        assert response.headers.get("referrer-policy") == "same-origin", path
    page = client.get("/admin/handoffs").text
    assert "<script src=" in page and not re.search(r"<script(?![^>]*\bsrc=)", page)  # no inline script
    assert "<style" not in client.get("/admin/dashboard").text and " style=" not in page


def test_the_public_widget_is_not_given_the_back_office_policy(bo: Backoffice) -> None:
    client = bo.client()
    for path in ("/widget.js", "/widget/demo"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "content-security-policy" not in response.headers, path
        assert "x-frame-options" not in response.headers, path
