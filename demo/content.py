"""What the demo campaigns say and who reads them: plain data, in the language of each campaign."""

FIRST_NAMES_DE = [
    "Anja",
    "Bernd",
    "Carina",
    "Dennis",
    "Elif",
    "Frank",
    "Gabi",
    "Heiko",
    "Inga",
    "Jan",
    "Katrin",
    "Lars",
    "Maren",
    "Nils",
    "Oksana",
    "Philipp",
    "Ronja",
    "Sven",
    "Tanja",
    "Uwe",
    "Vera",
    "Wolfgang",
    "Yasemin",
    "Zoe",
]
LAST_NAMES_DE = [
    "Albrecht",
    "Bauer",
    "Dietrich",
    "Engel",
    "Franke",
    "Graf",
    "Hartmann",
    "Jung",
    "Kaiser",
    "Lange",
    "Möller",
    "Otto",
    "Peters",
    "Roth",
    "Sommer",
    "Thiel",
    "Vogel",
    "Winkler",
    "Ziegler",
    "Yilmaz",
]
FIRST_NAMES_EN = [
    "Alice",
    "Brian",
    "Chloe",
    "Daniel",
    "Ella",
    "George",
    "Hannah",
    "Isaac",
    "Jade",
    "Liam",
    "Megan",
    "Oscar",
    "Priya",
    "Ryan",
    "Sophie",
    "Tom",
]
LAST_NAMES_EN = ["Clarke", "Davies", "Hughes", "Khan", "Lewis", "Moore", "Patel", "Roberts", "Walker", "Wright"]

# (key, language, list slug, days before now it went out, subject, preheader, survey?, articles)
# Each article: (headline, Markdown body, link, button text).
CAMPAIGNS = [
    {
        "key": "campaign-news",
        "name": "Demo · Kanal News, Frühjahrsausgabe",
        "language": "de",
        "list": "news",
        "days_ago": 17,
        "subject": "Kanal News: Umfragen in der Mail, neue Segmente und ein Blick hinter die Kulissen",
        "preheader": "Vier Themen in fünf Minuten – und eine Frage an Sie.",
        "survey": {
            "title": "Ihre Meinung zu Kanal News",
            "slug": "demo-kanal-news-umfrage",
            "nps": "Wie wahrscheinlich ist es, dass Sie Kanal News einer Freundin oder einem Kollegen empfehlen?",
            "free_text": "Was sollen wir besser machen?",
            "answers": [
                "Gern etwas kürzer.",
                "Mehr Praxisbeispiele, bitte!",
                "Die Anleitungen sind super, weiter so.",
                "Lieber einmal im Monat statt öfter.",
                "Mehr zu Datenschutz und Einwilligungen.",
            ],
        },
        "articles": [
            (
                "Umfragen direkt in der Mail",
                "Ein Klick auf eine Zahl genügt: Antworten landen sofort in der Auswertung. "
                "[So richten Sie die erste Umfrage ein](https://example.org/docs/umfragen).",
                "https://example.org/blog/umfragen-in-der-mail",
                "Zur Anleitung",
            ),
            (
                "Segmente, die mitdenken",
                "Wer hat in den letzten 30 Tagen geklickt? Wer hat eine Ausgabe verpasst? "
                "[Beispiele für Segmente](https://example.org/docs/segmente) zum Nachbauen.",
                "https://example.org/blog/segmente",
                "Segmente ansehen",
            ),
            (
                "Hinter den Kulissen: 1.000 Mails pro Sekunde",
                "Wie Kanal große Listen verschickt, ohne eine Mail doppelt zu senden – "
                "und warum [jede Zustellung eine eigene Zeile](https://example.org/blog/zustellung) hat.",
                "https://example.org/blog/versand",
                "Weiterlesen",
            ),
            (
                "Termine: Webinar am Donnerstag",
                "Wir zeigen live, wie Sie Öffnungen von Maschinen erkennen. "
                "[Alle Termine](https://example.org/termine).",
                "https://example.org/webinar",
                "Platz sichern",
            ),
        ],
    },
    {
        "key": "campaign-product",
        "name": "Demo · Product updates, release notes",
        "language": "en",
        "list": "product-updates",
        "days_ago": 6,
        "subject": "What's new: honest analytics, faster previews and a dark mode",
        "preheader": "Three changes you asked for.",
        "survey": None,
        "articles": [
            (
                "Honest analytics: people, not proxies",
                "Apple's image proxy and link scanners no longer inflate your open and click rates. "
                "[How Kanal tells them apart](https://example.com/docs/machines).",
                "https://example.com/blog/honest-analytics",
                "Read the post",
            ),
            (
                "Previews in a blink",
                "The preview now updates while you type, on desktop and phone width. "
                "[Try it in the demo](https://example.com/demo).",
                "https://example.com/blog/previews",
                "See what changed",
            ),
            (
                "Dark mode for the back office",
                "Easier on the eyes late at night. [Release notes](https://example.com/releases).",
                "https://example.com/blog/dark-mode",
                "",
            ),
        ],
    },
]
