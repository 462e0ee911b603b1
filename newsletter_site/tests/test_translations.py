"""The German catalogue is complete and compiled: scripts/check_translations.py finds nothing."""

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_translations.py"
spec = importlib.util.spec_from_file_location("check_translations", SCRIPT)
check_translations = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_translations)


@pytest.fixture
def gettext_tools():
    if shutil.which("msgfmt") is None or shutil.which("xgettext") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("GNU gettext is missing; scripts/kanal.py installs it in CI (apt-get install gettext)")
        pytest.skip("GNU gettext is missing: apt-get install gettext")


def test_makemessages_leaves_no_empty_or_fuzzy_entry_and_every_mo_is_compiled(gettext_tools):
    found = check_translations.problems()
    assert not found, "\n".join(["", *found])


def test_the_check_names_empty_fuzzy_and_untranslated_plural_entries(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: de\\n"\n\n'
        '#: a.py:1\nmsgid "Done"\nmsgstr "Fertig"\n\n'
        '#: a.py:2 b.html:3\nmsgid "Imprint"\nmsgstr ""\n\n'
        '#: a.py:4\n#, fuzzy, python-format\nmsgid "Unsubscribe: %(url)s"\nmsgstr "Abmelden"\n\n'
        '#: a.py:5\nmsgid "one day"\nmsgid_plural "%(n)s days"\nmsgstr[0] "ein Tag"\nmsgstr[1] ""\n\n'
        '#~ msgid "Gone"\n#~ msgstr ""\n',
        encoding="utf-8",
    )
    assert check_translations.incomplete_entries(po, shown_as=Path("django.po")) == [
        "django.po: empty msgid 'Imprint' used at a.py:2 b.html:3",
        "django.po: fuzzy msgid 'Unsubscribe: %(url)s' used at a.py:4",
        "django.po: empty msgid 'one day' used at a.py:5",
    ]


def test_the_check_names_gettext_inside_an_f_string(tmp_path):
    (tmp_path / "mail.py").write_text(
        "from django.utils.translation import gettext as _\n"
        'ok = _("Imprint: %(url)s") % {"url": "u"}\n'
        "bad = f\"{_('Imprint')}: u\"\n",
        encoding="utf-8",
    )
    (problem,) = check_translations.gettext_in_fstrings(tmp_path)
    assert problem.startswith("mail.py:3: _('Imprint') inside an f-string")


def test_the_check_names_templates_makemessages_does_not_read(tmp_path):
    (tmp_path / "layout.mjml").write_text('{% load i18n %}<p>{% translate "Imprint" %}</p>', encoding="utf-8")
    (tmp_path / "page.html").write_text("{% blocktranslate %}Hello{% endblocktranslate %}", encoding="utf-8")
    (tmp_path / "plain.css").write_text("p { margin: 0; }", encoding="utf-8")

    (problem,) = check_translations.unread_templates(tmp_path, read={Path("page.html")})
    assert problem.startswith("layout.mjml: has translation tags, but makemessages does not read it")
