"""Brands and layouts in the compiled mail: colours, logo, footer, the four layouts, custom MJML."""

import re

import pytest
from django.urls import reverse

from brands.models import Layout
from brands.tests.factories import VALID_LAYOUT, BrandFactory, LayoutFactory, SocialLinkFactory
from campaigns.checklist import campaign_checklist
from campaigns.models import Campaign
from campaigns.rendering import RecipientContext, compile_campaign
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory
from campaigns.tests.test_editor_preview import change_form
from campaigns.tests.test_rendering import assert_valid_html
from newsletter_site.testing import staff_login

pytestmark = pytest.mark.django_db

ERIKA = RecipientContext(
    email="erika@example.org",
    first_name="Erika",
    language="de",
    unsubscribe_url="https://kanal.test/unsubscribe/tok-erika/",
    preferences_url="https://kanal.test/preferences/tok-erika/",
    open_pixel_url="https://kanal.test/o/px-erika.gif",
    honeypot_url="https://kanal.test/t/trap-erika/",
)
# The box around each article in the one-column layout, as css-inline writes it.
ARTICLE_BOX = "background:#ffffff;background-color:#ffffff;"


def campaign_with_articles(count=3, **fields):
    campaign = CampaignFactory(**fields)
    for position in range(count):
        ArticleFactory(
            campaign=campaign,
            position=position,
            headline=f"Artikel {position} für {{{{ subscriber.first_name }}}}",
            link_url=f"https://example.org/artikel-{position}",
            cta_text=f"Lesen {position}",
        )
    return campaign


def with_tracking(compiled, recipient=ERIKA):
    urls = [f"https://kanal.test/c/{index}/" for index in range(len(compiled.links))]
    return compiled.render(RecipientContext(**{**_fields(recipient), "link_urls": urls}))


def _fields(recipient):
    return {name: getattr(recipient, name) for name in recipient.__slots__}


def test_the_default_brand_keeps_the_look_of_the_old_layout():
    html = compile_campaign(campaign_with_articles()).render(ERIKA).html
    assert "#1d4ed8" in html and "#f3f4f6" in html and "-apple-system" in html
    assert "brand-logo" not in html


def test_the_brand_colours_font_logo_footer_and_social_links_are_in_the_mail():
    brand = BrandFactory(logo_url="https://cdn.beispiel.example/logo.png", logo_width=140)
    SocialLinkFactory(brand=brand, platform="mastodon", url="https://social.example/@beispiel")
    campaign = campaign_with_articles(brand=brand)

    rendered = compile_campaign(campaign).render(ERIKA)

    html = rendered.html
    assert_valid_html(html)
    assert "#aa0055" in html and "#fafaf0" in html and "#222244" in html and "Georgia" in html
    assert "#1d4ed8" not in html  # no colour of the default brand left
    assert 'src="https://cdn.beispiel.example/logo.png"' in html and 'alt="' + brand.name + '"' in html
    assert html.index("cdn.beispiel.example/logo.png") < html.index("Artikel 0")
    assert "Beispiel AG · Hafenstraße 7 · 20457 Hamburg" in html
    assert 'href="https://beispiel.example/impressum"' in html and 'href="https://beispiel.example/datenschutz"' in html
    assert 'href="https://social.example/@beispiel"' in html and ">Mastodon</a>" in html
    assert "Beispiel AG · Hafenstraße 7" in rendered.text and "https://beispiel.example/impressum" in rendered.text
    assert "Mastodon: https://social.example/@beispiel" in rendered.text


def test_an_uploaded_logo_gets_an_absolute_address(settings, tmp_path):
    from django.core.files.base import ContentFile

    settings.STORAGES = {
        **settings.STORAGES,
        "public": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path, "base_url": "/media/"},
        },
    }
    brand = BrandFactory()
    brand.logo.save("logo.png", ContentFile(b"\x89PNG\r\n\x1a\n" + b"0" * 16))
    html = compile_campaign(campaign_with_articles(brand=brand)).render(ERIKA).html
    assert re.search(rf'src="{re.escape(settings.SITE_URL)}/media/brands/logos/\d{{4}}/\d{{2}}/logo[^"]*\.png"', html)


def test_the_campaign_brand_wins_over_the_list_brand_in_the_mail():
    list_brand = BrandFactory(primary_color="#123456")
    on_list = campaign_with_articles(mailing_lists=[MailingListFactory(brand=list_brand)])
    assert "#123456" in compile_campaign(on_list).render(ERIKA).html
    on_list.brand = BrandFactory(primary_color="#654321")
    html = compile_campaign(on_list).render(ERIKA).html
    assert "#654321" in html and "#123456" not in html


def test_two_column_teasers_put_the_articles_after_the_first_side_by_side():
    one_column = compile_campaign(campaign_with_articles(count=5)).render(ERIKA).html
    two_column = compile_campaign(campaign_with_articles(count=5, layout="two_column")).render(ERIKA).html
    assert_valid_html(two_column)
    assert "mj-column-per-50" not in one_column
    assert two_column.count('mj-column-per-50 teaser"') == 4
    first_teaser = two_column.index('mj-column-per-50 teaser"')
    assert two_column.index("Artikel 0 für Erika") < first_teaser < two_column.index("Artikel 1 für Erika")
    for position in range(5):
        assert f"Artikel {position} für Erika" in two_column and f"https://example.org/artikel-{position}" in two_column


def test_a_lone_last_teaser_takes_the_full_width():
    html = compile_campaign(campaign_with_articles(count=4, layout="two_column")).render(ERIKA).html
    assert html.count('mj-column-per-50 teaser"') == 2
    assert html.count('mj-column-per-100 teaser"') == 1


def test_the_letter_has_no_article_boxes_no_logo_and_links_instead_of_buttons():
    brand = BrandFactory(logo_url="https://cdn.beispiel.example/logo.png")
    articles = compile_campaign(campaign_with_articles(brand=brand)).render(ERIKA).html
    letter = compile_campaign(campaign_with_articles(brand=brand, layout="letter")).render(ERIKA).html
    assert_valid_html(letter)
    assert ARTICLE_BOX in articles and ARTICLE_BOX not in letter
    assert "logo.png" in articles and "logo.png" not in letter
    assert "max-width:560px" in letter
    assert (
        "Lesen 0 →" in letter and 'role="presentation" style="border-collapse:separate;line-height:100%;"' not in letter
    )
    assert "https://kanal.test/unsubscribe/tok-erika/" in letter


def test_a_custom_layout_is_filled_with_the_blocks_and_tracking_per_recipient():
    layout = LayoutFactory()
    campaign = campaign_with_articles(
        count=2, layout="custom", custom_layout=layout, brand=BrandFactory(name="Beispiel")
    )
    campaign.subject = 'Hallo {{ subscriber.first_name|default:"Leserin" }}'
    campaign.save()
    compiled = compile_campaign(campaign)

    erika = with_tracking(compiled)
    max_ = with_tracking(compiled, RecipientContext(first_name="Max", unsubscribe_url="https://kanal.test/u/max/"))

    assert_valid_html(erika.html)
    assert "Beispiel: Hallo Erika" in erika.html and "Beispiel: Hallo Max" in max_.html
    assert "Artikel 1 für Erika" in erika.html
    for index in range(len(compiled.links)):
        assert f'href="https://kanal.test/c/{index}/"' in erika.html
    assert "https://example.org/artikel-0" not in erika.html  # every article link is tracked
    assert 'src="https://kanal.test/o/px-erika.gif"' in erika.html
    assert 'href="https://kanal.test/t/trap-erika/"' in erika.html
    assert 'href="https://kanal.test/unsubscribe/tok-erika/"' in erika.html
    assert 'href="https://kanal.test/u/max/"' in max_.html and "tok-erika" not in max_.html
    assert "#aa0055" in erika.html  # {{ brand.primary_color }}


def test_article_text_in_a_custom_layout_is_still_sanitised():
    campaign = campaign_with_articles(count=1, layout="custom", custom_layout=LayoutFactory())
    ArticleFactory(campaign=campaign, position=5, body='<script>alert(1)</script><img src=x onerror="alert(2)"> ok')
    html = compile_campaign(campaign).render(ERIKA).html
    assert "<script" not in html and "onerror" not in html and "alert(1)" not in html


def test_a_custom_layout_without_survey_or_offer_markers_still_gets_the_blocks(monkeypatch):
    from brands import sandbox

    filled = sandbox.layout_fill(VALID_LAYOUT, blocks={"offer": "<OFFER/>", "footer": "<FOOTER/>"}, values={})
    assert filled.index("<OFFER/>") < filled.index("<FOOTER/>")


def test_a_custom_layout_that_broke_later_falls_back_and_the_checklist_blocks_it(in_english):
    Layout.objects.filter(pk=LayoutFactory().pk).update(mjml=VALID_LAYOUT.replace("{{ footer }}", ""))
    layout = Layout.objects.get()
    campaign = campaign_with_articles(count=1, layout="custom", custom_layout=layout)
    html = compile_campaign(campaign).render(ERIKA).html
    assert 'href="https://kanal.test/unsubscribe/tok-erika/"' in html  # the standard layout, with its footer
    (item,) = [item for item in campaign_checklist(campaign=campaign) if item.code == "layout_invalid"]
    assert item.blocks and "{{ footer }}" in str(item)


def test_a_custom_layout_must_be_chosen_for_the_custom_layout_choice(in_english):
    campaign = CampaignFactory(layout="custom")
    with pytest.raises(Exception, match="Choose the custom layout"):
        campaign.full_clean()


@pytest.mark.parametrize("layout", [choice for choice, _label in Campaign.Layout.choices])
def test_the_checklist_works_with_every_layout(layout):
    custom = LayoutFactory() if layout == "custom" else None
    campaign = campaign_with_articles(count=3, layout=layout, custom_layout=custom)
    codes = {item.code for item in campaign_checklist(campaign=campaign)}
    assert not codes & {"layout_invalid", "layout_missing", "mail_size", "merge_tag_invalid"}


def test_the_editor_preview_renders_the_two_column_layout_as_typed(client):
    campaign = campaign_with_articles(count=3)
    staff_login(client, "campaigns.change_campaign")
    url = reverse("admin:campaigns_campaign_editor_preview", args=[campaign.pk])

    response = client.post(url, change_form(campaign, layout="two_column", brand="", custom_layout=""))

    assert response.status_code == 200
    result = response.json()
    assert result["errors"] == []
    assert result["html"].count('mj-column-per-50 teaser"') == 2
    campaign.refresh_from_db()
    assert campaign.layout == "articles"  # nothing saved


def test_the_editor_preview_shows_the_chosen_custom_layout(client):
    campaign = campaign_with_articles(count=1, brand=BrandFactory(name="Eigene Marke"))
    layout = LayoutFactory()
    staff_login(client, "campaigns.change_campaign")
    url = reverse("admin:campaigns_campaign_editor_preview", args=[campaign.pk])
    response = client.post(
        url, change_form(campaign, layout="custom", brand=campaign.brand_id, custom_layout=layout.pk)
    )
    assert response.status_code == 200
    assert "Eigene Marke: Neues für Leserin" in response.json()["html"]


def test_the_share_block_wears_the_brand_and_reaches_a_custom_layout_without_its_marker():
    campaign = campaign_with_articles(
        count=1,
        brand=BrandFactory(),
        archive_enabled=True,
        sharing_enabled=True,
        layout="custom",
        custom_layout=LayoutFactory(),
    )
    recipient = RecipientContext(**{**_fields(ERIKA), "forward_url": "https://kanal.test/forward/tok-erika/"})
    html = compile_campaign(campaign).render(recipient).html
    assert 'href="https://kanal.test/forward/tok-erika/" style="color:#aa0055;font-weight:bold;"' in html
    assert html.index("Artikel 0") < html.index('tok-erika/" style') < html.index("https://kanal.test/unsubscribe/")


def test_staff_choose_brand_and_layout_in_the_campaign_and_list_forms(admin_client):
    brand = BrandFactory(name="Zweitmarke")
    LayoutFactory(name="Eigenes Layout")
    campaign = campaign_with_articles(count=1)
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'name="brand"' in page and ">Zweitmarke</option>" in page
    assert 'name="layout"' in page and 'value="two_column"' in page and 'value="letter"' in page
    assert 'name="custom_layout"' in page and ">Eigenes Layout</option>" in page
    mailing_list = campaign.mailing_lists.get()
    page = admin_client.get(reverse("admin:subscribers_mailinglist_change", args=[mailing_list.pk])).content.decode()
    assert 'name="brand"' in page and f'value="{brand.pk}"' in page
