#!/usr/bin/env python3
"""Fail when a translation catalogue is incomplete.

    python3 scripts/check_translations.py

Copies the project to a temporary directory, runs ``manage.py makemessages`` there for every
language under ``locale/`` and lists every entry it leaves empty or fuzzy, every committed .mo
that is missing or does not match its .po, every file with ``{% translate %}`` tags that
makemessages does not read, and every ``_()`` inside an f-string (which makemessages never
extracts). The source strings are English, so English needs no catalogue.
Exit status 1 when anything is listed. Needs GNU gettext (``apt-get install gettext``).

Standard library only; Django runs in the project's virtualenv (or the running interpreter).
"""

import ast
import gettext
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCALE = Path("locale")
# Not part of the source makemessages reads: the virtualenv, run-time state, caches.
NOT_SOURCE = shutil.ignore_patterns(".*", "var", "__pycache__", "node_modules", "*.pyc")
GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy"}
JS_TRANSLATION_CALL = re.compile(r"\b(?:n|p|np)?gettext\s*\(")
TEMPLATE_TRANSLATION_TAG = re.compile(r"\{%-?\s*(?:block)?trans(?:late)?\b")
PROCESSED = re.compile(r"^processing file (.+) in (.+)$", re.M)


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str = ""
    msgstrs: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    fuzzy: bool = False
    obsolete: bool = False


def _unquote(line: str) -> str:
    return ast.literal_eval(line)


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (header included, as the entry with the empty msgid)."""
    entries: list[Entry] = []
    entry, target = Entry(), None
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            if target is not None:
                entries.append(entry)
            entry, target = Entry(), None
        elif line.startswith("#~"):
            entry.obsolete = True
        elif line.startswith("#:"):
            entry.references += line[2:].split()
        elif line.startswith("#,"):
            entry.fuzzy = entry.fuzzy or "fuzzy" in (flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if target == "msgid":
                entry.msgid += _unquote(line)
            elif target == "msgid_plural":
                entry.msgid_plural += _unquote(line)
            else:
                entry.msgstrs[-1] += _unquote(line)
        else:
            keyword, _space, value = line.partition(" ")
            if keyword in {"msgid", "msgid_plural"}:
                setattr(entry, keyword, _unquote(value))
                target = keyword
            elif keyword.startswith("msgstr"):
                entry.msgstrs.append(_unquote(value))
                target = "msgstr"
    return entries


def incomplete_entries(po: Path, *, shown_as: Path) -> list[str]:
    problems = []
    for entry in read_po(po):
        if entry.obsolete or not entry.msgid:
            continue
        if entry.fuzzy:
            problem = "fuzzy"
        elif not entry.msgstrs or not all(entry.msgstrs):
            problem = "empty"
        else:
            continue
        where = " ".join(entry.references) or "(no reference)"
        problems.append(f"{shown_as}: {problem} msgid {entry.msgid!r} used at {where}")
    return problems


def stale_mo(po: Path) -> list[str]:
    """A committed .mo must hold exactly what compiling its committed .po gives."""
    mo = po.with_suffix(".mo")
    shown = mo.relative_to(REPO)
    if not mo.exists():
        return [f"{shown}: missing; run compilemessages"]
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "fresh.mo"
        subprocess.run(["msgfmt", "--check-format", "-o", str(fresh), str(po)], check=True)
        wanted = _catalogue(fresh)
    if _catalogue(mo) != wanted:
        return [f"{shown}: does not match {po.relative_to(REPO)}; run compilemessages"]
    return []


def _catalogue(mo: Path) -> dict:
    with mo.open("rb") as handle:
        return dict(gettext.GNUTranslations(handle)._catalog)


def python_sources(root: Path):
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if not any(part.startswith(".") or part in {"var", "node_modules"} for part in relative.parts):
            yield relative


def gettext_in_fstrings(root: Path) -> list[str]:
    """Calls of _() inside an f-string: xgettext does not look inside f-strings, the string stays English."""
    problems = []
    for relative in python_sources(root):
        tree = ast.parse((root / relative).read_text(encoding="utf-8"), filename=str(relative))
        for node in ast.walk(tree):
            if not isinstance(node, ast.JoinedStr):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id in GETTEXT_NAMES:
                    problems.append((str(relative), inner.lineno, ast.unparse(inner)))
    return [
        f'{path}:{line}: {call} inside an f-string is never extracted; write _("… %(name)s") % {{"name": …}}'
        for path, line, call in sorted(set(problems))
    ]


def source_files(root: Path):
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not any(
            part.startswith(".") or part in {"var", "node_modules"} for part in relative.parts
        ):
            yield relative


# Documentation quotes template tags without being a template.
DOCUMENTATION_SUFFIXES = {".md", ".rst"}


def unread_templates(root: Path, read: set[Path]) -> list[str]:
    """Files with {% translate %} tags that makemessages does not read (as the .mjml layout once was)."""
    return [
        f"{relative}: has translation tags, but makemessages does not read it; add its extension "
        "in newsletter_site/management/commands/makemessages.py"
        for relative in source_files(root)
        if relative not in read
        and relative.suffix not in DOCUMENTATION_SUFFIXES
        and TEMPLATE_TRANSLATION_TAG.search((root / relative).read_text(encoding="utf-8", errors="replace"))
    ]


def has_javascript_strings(root: Path) -> bool:
    return any(
        JS_TRANSLATION_CALL.search((root / relative).read_text(encoding="utf-8", errors="replace"))
        for relative in source_files(root)
        if relative.suffix == ".js" and "vendor" not in relative.parts
    )


def python_for_django() -> str:
    venv_python = REPO / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def problems() -> list[str]:
    """Everything that makes the catalogues incomplete; an empty list when they are complete."""
    found = gettext_in_fstrings(REPO)
    languages = sorted(path.name for path in (REPO / LOCALE).iterdir() if (path / "LC_MESSAGES").is_dir())
    domains = ["django", "djangojs"] if has_javascript_strings(REPO) else ["django"]
    with tempfile.TemporaryDirectory(prefix="kanal-translations-") as scratch:
        copy = Path(scratch) / "project"
        shutil.copytree(REPO, copy, ignore=NOT_SOURCE)
        for domain in domains:
            arguments = [python_for_django(), "manage.py", "makemessages", "--domain", domain, "--no-obsolete"]
            arguments += [f"--locale={language}" for language in languages]
            output = subprocess.run(
                [*arguments, "--verbosity=2"], cwd=copy, check=True, capture_output=True, text=True
            ).stdout
            if domain == "django":
                read = {Path(directory, name) for name, directory in PROCESSED.findall(output)}
                found += unread_templates(copy, read)
            for language in languages:
                po = LOCALE / language / "LC_MESSAGES" / f"{domain}.po"
                found += incomplete_entries(copy / po, shown_as=po)
    for po in sorted((REPO / LOCALE).glob("*/LC_MESSAGES/*.po")):
        found += stale_mo(po)
    return found


def main() -> None:
    missing = [tool for tool in ("xgettext", "msgmerge", "msgfmt") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"GNU gettext is missing ({', '.join(missing)}): apt-get install gettext")
    found = problems()
    for problem in found:
        print(problem)
    if found:
        sys.exit(
            f"{len(found)} translation problem(s). Fix them, then: .venv/bin/python manage.py makemessages -l de, "
            "translate the empty and fuzzy entries (remove the fuzzy flag), .venv/bin/python manage.py compilemessages"
        )
    print("Translation catalogues are complete.")


if __name__ == "__main__":
    main()
