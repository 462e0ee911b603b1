from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = _("Surveys")

    def ready(self):
        from campaigns import extensions
        from subscribers.services import gdpr
        from surveys import mail
        from surveys.analytics import campaign_surveys_table
        from surveys.conditions import register_dialogue_kinds
        from surveys.selectors import subscriber_surveys_export
        from surveys.services import subscriber_surveys_erase
        from tracking.analytics import tables

        extensions.register(extensions.ANSWER_BLOCKS, mail)
        extensions.register(extensions.RECIPIENT_LINK_PROVIDERS, mail.campaign_answer_links)
        extensions.register(tables.CAMPAIGN_TABLES, campaign_surveys_table)
        register_dialogue_kinds()

        if subscriber_surveys_export not in gdpr.EXPORT_SECTIONS:
            gdpr.EXPORT_SECTIONS.append(subscriber_surveys_export)
        if subscriber_surveys_erase not in gdpr.ERASE_HOOKS:
            gdpr.ERASE_HOOKS.append(subscriber_surveys_erase)
