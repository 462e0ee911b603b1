"""Turn a campaign into mail bodies: expensive work once per campaign, cheap work per recipient.

``compile_campaign`` renders the MJML layout, inlines the CSS, renders and sanitises the
Markdown and parses the merge tags, then cuts the finished HTML and text into static segments
and *slots*. ``CompiledCampaign.render`` fills the slots for one recipient — merge tags, the
unsubscribe and preference-centre URLs, the article links and an optional open pixel — with
one list copy and one ``str.join`` per part.

Link tracking hook: every article link (image, headline, links in the text, button) is a slot
listed in ``CompiledCampaign.links`` with a stable key ``(article public id, position)``. By
default a slot renders the original URL; pass ``RecipientContext.link_urls`` (one URL per entry
of ``links``, same order) to substitute signed click-tracking URLs per recipient.

One-click answers: when a survey is attached to the campaign, its first question is a block of
answer buttons after the articles (``CompiledCampaign.survey``, from the app registered in
``campaigns.extensions.ANSWER_BLOCKS``, ``surveys.mail``), and
with ``Campaign.article_feedback_enabled`` every article ends in "was this useful? yes / no"
(``CompiledCampaign.feedback_article_ids``). Their URLs are slots as well:
``RecipientContext.survey_urls`` and ``feedback_urls`` carry the signed per-delivery URLs
(``surveys.mail.AnswerLinks``); without them (previews, test sends, the archive page) the slots
render preview links that open the survey but never store an answer.
"""

from campaigns.rendering.compiler import compile_campaign
from campaigns.rendering.markdown import render_markdown
from campaigns.rendering.slots import CompiledCampaign, CompiledLink, RecipientContext, RenderedMessage
from campaigns.rendering.text import html_to_text

__all__ = [
    "CompiledCampaign",
    "CompiledLink",
    "RecipientContext",
    "RenderedMessage",
    "compile_campaign",
    "html_to_text",
    "render_markdown",
]
