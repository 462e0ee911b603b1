import factory

from brands.models import Brand, Layout, SocialLink

VALID_LAYOUT = """<mjml>
  <mj-head>
    {{ head }}
  </mj-head>
  <mj-body background-color="{{ brand.background_color }}">
    <mj-section background-color="{{ brand.primary_color }}">
      <mj-column>
        <mj-text color="#ffffff" font-size="20px">{{ brand.name }}: {{ subject }}</mj-text>
      </mj-column>
    </mj-section>
    {{ articles }}
    {{ footer }}
  </mj-body>
</mjml>
"""


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand

    name = factory.Sequence(lambda n: f"Brand {n}")
    primary_color = "#aa0055"
    accent_color = "#00aa55"
    background_color = "#fafaf0"
    text_color = "#222244"
    font = "georgia"
    company_address = "Beispiel AG · Hafenstraße 7 · 20457 Hamburg"
    imprint_url = "https://beispiel.example/impressum"
    privacy_url = "https://beispiel.example/datenschutz"


class SocialLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SocialLink

    brand = factory.SubFactory(BrandFactory)
    platform = SocialLink.Platform.MASTODON
    url = "https://social.example/@beispiel"


class LayoutFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Layout

    name = factory.Sequence(lambda n: f"Layout {n}")
    mjml = VALID_LAYOUT
