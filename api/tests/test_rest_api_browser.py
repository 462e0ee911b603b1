"""The API docs page in a real browser, under the site's Content-Security-Policy."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def test_docs_page_renders_swagger_ui_without_csp_violations(page, live_server):
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(f"{live_server.url}/api/v1/docs")
    page.locator(".opblock-summary-path", has_text="/api/v1/subscribers/{subscriber_id}/unsubscribe").wait_for()
    assert not [text for text in messages if "Content Security Policy" in text or "Refused" in text], messages
