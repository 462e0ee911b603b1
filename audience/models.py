from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from audience.rules import empty_rules, rules_problems


class Segment(models.Model):
    """A saved, named rule tree that picks subscribers (``audience.rules``)."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    rules = models.JSONField(_("rules"), default=empty_rules)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        problems = rules_problems(self.rules)
        if problems:
            raise ValidationError({"rules": problems})
