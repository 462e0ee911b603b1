"""What the campaign editor's browser tests do alike."""

FRAME = "#kanal-preview iframe"


def frame_text(page) -> str:
    """The live preview's mail as text."""
    return page.frame_locator(FRAME).locator("body").inner_text()


def drag_article_above(page, *, moved: int, above: int) -> None:
    """Drag article ``moved`` by its handle onto the heading of article ``above`` (HTML drag and drop)."""
    page.locator(f"#articles-{above} h3").evaluate("heading => heading.scrollIntoView({block: 'start'})")
    handle = page.locator(f"#articles-{moved} .kanal-drag").bounding_box()
    target = page.locator(f"#articles-{above} h3").bounding_box()
    page.mouse.move(handle["x"] + 4, handle["y"] + 4)
    page.mouse.down()
    page.mouse.move(target["x"] + 40, target["y"] + 10, steps=10)
    page.mouse.move(target["x"] + 40, target["y"] + 3, steps=5)
    page.mouse.up()
