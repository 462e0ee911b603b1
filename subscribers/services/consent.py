from django.http import HttpRequest

from newsletter_site.client_ip import client_ip
from subscribers.models import ConsentRecord, ConsentText, MailingList, Subscriber

USER_AGENT_LIMIT = 500
SOURCE_URL_LIMIT = 1000


def request_evidence(request: HttpRequest) -> dict:
    """What a consent record keeps about the request that carried the consent."""
    return {
        "ip_address": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_LIMIT],
    }


def consent_record_add(
    *,
    subscriber: Subscriber | None,
    action: str,
    mailing_list: MailingList | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
    source_url: str = "",
    consent_text: ConsentText | None = None,
    basis: str = "",
    actor=None,
    details: dict | None = None,
) -> ConsentRecord:
    return ConsentRecord.objects.create(
        subscriber=subscriber,
        mailing_list=mailing_list,
        action=action,
        ip_address=ip_address,
        user_agent=(user_agent or "")[:USER_AGENT_LIMIT],
        source_url=(source_url or "")[:SOURCE_URL_LIMIT],
        consent_text=consent_text,
        consent_text_shown=consent_text.text if consent_text else "",
        basis=basis,
        actor=actor,
        details=details or {},
    )
