import copy

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.merge_tags import validate_merge_tags
from campaigns.models import Article, Campaign
from campaigns.services.lifecycle import FollowUp
from campaigns.services.test_send import MAX_TEST_RECIPIENTS
from media.processing import ProcessedImage, process_image
from media.services import media_image_create


class ScheduleForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label=_("Send at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    confirm_warnings = forms.BooleanField(
        label=_("Send anyway, despite the checklist's warnings"),
        required=False,
        help_text=_("Blocking items are checked again when the time comes; warnings are not asked for again."),
    )


class TestSendForm(forms.Form):
    addresses = forms.CharField(
        label=_("Send to"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Up to five addresses, separated by commas or line breaks."),
    )
    as_subscriber = forms.EmailField(
        label=_("Personalise as subscriber"),
        required=False,
        help_text=_(
            "Address of a subscriber whose name fills the merge tags and whose segments decide which articles "
            "for a segment the test shows. Empty: a sample subscriber, and every article for a segment, marked."
        ),
    )

    def clean_addresses(self):
        raw = self.cleaned_data["addresses"].replace(";", ",").replace("\n", ",")
        addresses = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
        if not addresses:
            raise ValidationError(_("Enter at least one address."))
        if len(addresses) > MAX_TEST_RECIPIENTS:
            raise ValidationError(_("Enter at most %(count)d addresses.") % {"count": MAX_TEST_RECIPIENTS})
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError as error:
                raise ValidationError(_("“%(address)s” is not an email address.") % {"address": address}) from error
        return addresses


class FollowUpForm(forms.Form):
    reaction = forms.ChoiceField(
        label=_("Send to the recipients who"), choices=FollowUp.CHOICES, widget=forms.RadioSelect
    )
    subject = forms.CharField(label=_("Subject of the follow-up"), max_length=255, validators=[validate_merge_tags])


class ArticleAdminForm(forms.ModelForm):
    """An article in the campaign change form. An uploaded image is processed while the form is
    checked (a bad file is an error on the field) and lands in the media library when saved."""

    processed_upload: ProcessedImage | None = None

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("image")
        if isinstance(upload, UploadedFile) and "image" not in self.errors:
            try:
                self.processed_upload = process_image(upload)
            except ValidationError as error:
                self.add_error("image", error)
        return cleaned

    def move_upload_to_library(self, *, uploaded_by) -> None:
        """Before the article is saved: its new upload becomes a library image it shows instead."""
        if self.processed_upload is None:
            return
        self.instance.library_image = media_image_create(
            processed=self.processed_upload, alt_text=self.instance.image_alt, uploaded_by=uploaded_by
        )
        self.instance.image = ""
        self.processed_upload = None


class EditorCampaignForm(forms.ModelForm):
    """The parts of the change form that the live preview's inbox line and mail show."""

    class Meta:
        model = Campaign
        fields = ["subject", "preheader", "from_name", "brand", "layout", "custom_layout"]

    # The look follows the form when it posts those fields; a client that posts only the text keeps the saved look.
    OPTIONAL_FIELDS = ("brand", "layout", "custom_layout")

    def __init__(self, data, **kwargs):
        super().__init__(data, **kwargs)
        for name in self.OPTIONAL_FIELDS:
            if name not in data:
                del self.fields[name]


def _https_formfield(model_field, **kwargs):
    if isinstance(model_field, models.URLField):
        kwargs["assume_scheme"] = "https"  # as in the admin's ArticleInline
    return model_field.formfield(**kwargs)


class EditorArticleForm(forms.ModelForm):
    class Meta:
        model = Article
        formfield_callback = _https_formfield
        fields = ["position", "headline", "body", "library_image", "image_url", "image_alt", "link_url", "cta_text"]
        fields += ["segment"]


EditorArticleFormSet = forms.inlineformset_factory(Campaign, Article, form=EditorArticleForm, extra=0, can_delete=True)


class EditorPreview:
    """The campaign as its change form says it is now, unsaved: read from the posted change form
    (the admin's own field names, articles under the inline's prefix ``articles``).

    Nothing is saved. A field that does not validate keeps its saved value in the preview and its
    error is listed. An uploaded image is not read: an article shows the image it has saved."""

    def __init__(self, data, *, campaign: Campaign):
        self.campaign_form = EditorCampaignForm(data, instance=copy.copy(campaign))
        self.article_forms = EditorArticleFormSet(data, instance=campaign, prefix="articles")

    def campaign(self) -> Campaign:
        return _with_saved_values_where_invalid(self.campaign_form)

    def articles(self) -> list[Article]:
        """The articles in the order of their positions; deleted and untouched empty ones left out."""
        self.article_forms.is_valid()
        kept = []
        for index, form in enumerate(self.article_forms.forms):
            if self.article_forms.can_delete and self.article_forms._should_delete_form(form):
                continue
            if form.instance.pk is None and not form.has_changed():
                continue
            article = _with_saved_values_where_invalid(form)
            kept.append((article.position, index, article))
        return [article for _position, _index, article in sorted(kept, key=lambda item: item[:2])]

    def errors(self) -> list[str]:
        found = [str(error) for errors in self.campaign_form.errors.values() for error in errors]
        for form in self.article_forms.forms:
            found += [str(error) for errors in form.errors.values() for error in errors]
        found += [str(error) for error in self.article_forms.non_form_errors()]
        return found


def _with_saved_values_where_invalid(form: forms.ModelForm):
    """The form's instance with the posted values; a field that fails validation (the model's
    validators run on the instance, after the posted value was put there) gets its saved value back."""
    form.is_valid()
    for name in form.errors:
        if name in form.fields:
            field = form.instance._meta.get_field(name)
            setattr(form.instance, field.attname, form.initial.get(name, field.get_default()))
    return form.instance
