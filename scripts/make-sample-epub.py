#!/usr/bin/env python3
"""Builds examples/the-lighthouse-keepers-clock.epub from the Markdown story.

EPUB 3 with a navigation document and an NCX (for EPUB 2 readers), dc:title,
dc:creator and a generated PNG cover. Python standard library only. The
output is byte-for-byte reproducible: fixed zip timestamps and attributes,
the mimetype entry first and stored uncompressed.

Usage: python3 scripts/make-sample-epub.py [SOURCE.md] [OUTPUT.epub]
"""
import html
import os
import re
import struct
import sys
import zipfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "examples", "the-lighthouse-keepers-clock.md")
OUTPUT = os.path.join(ROOT, "examples", "the-lighthouse-keepers-clock.epub")
BOOK_ID = "urn:uuid:6f1c2d4e-8a7b-4c3d-9e2f-1a0b5c6d7e8f"
MODIFIED = "2026-01-01T00:00:00Z"


# ---- cover -----------------------------------------------------------------

def png(width, height, pixel):
    """Encodes an RGB image; pixel(x, y) returns (r, g, b)."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows.extend(pixel(x, y))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


def mix(a, b, t):
    return tuple(int(a[i] + (b[i] - a[i]) * t) for i in range(3))


def cover_pixel(x, y, w=400, h=600):
    """Night sky over the sea, a striped lighthouse and two beams of light."""
    horizon = int(h * 0.68)
    lamp_x, lamp_y = w * 0.5, h * 0.30
    if y < horizon:
        color = mix((10, 18, 48), (70, 96, 140), y / horizon)
    else:
        color = mix((20, 50, 80), (6, 20, 36), (y - horizon) / (h - horizon))
        if (x * 7 + y * 13) % 97 < 3:  # glints on the water
            color = mix(color, (200, 210, 230), 0.5)
    # beams: two wedges widening away from the lamp
    dy, dx = y - lamp_y, x - lamp_x
    if abs(dx) > 20 and abs(dy) < abs(dx) * 0.12 + 4 and y < horizon:
        color = mix(color, (255, 236, 160), 0.55)
    # the tower: a trapezoid from the rock to the gallery
    top, base = h * 0.33, h * 0.78
    if top <= y <= base:
        t = (y - top) / (base - top)
        half = 22 + 26 * t
        if abs(x - lamp_x) <= half:
            band = int((y - top) // 34) % 2
            color = (235, 235, 228) if band == 0 else (190, 40, 44)
    # lamp room and glow
    r2 = (x - lamp_x) ** 2 + (y - lamp_y) ** 2
    if r2 < 18 ** 2:
        color = (255, 230, 120)
    elif r2 < 34 ** 2:
        color = mix(color, (255, 230, 120), 0.35)
    # roof
    if h * 0.24 <= y < h * 0.27 and abs(x - lamp_x) <= 26 - (h * 0.27 - y) * 0.8:
        color = (40, 40, 48)
    # the rock
    if y > h * 0.76 and abs(x - lamp_x) < 110 - (y - h * 0.76) * 0.2 and y < h * 0.86:
        color = (34, 34, 30)
    return color


# ---- story -----------------------------------------------------------------

def inline(text):
    """Markdown *emphasis* to <em>, everything else escaped."""
    out = html.escape(text, quote=False)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", out)


def parse_story(path):
    with open(path, encoding="utf-8") as f:
        blocks = [b.strip() for b in f.read().split("\n\n") if b.strip()]
    title = author = None
    chapters = []
    for b in blocks:
        if b.startswith("# "):
            title = b[2:].strip()
        elif b.startswith("## "):
            chapters.append((b[3:].strip(), []))
        elif not chapters and b.lower().strip("*").startswith("by "):
            author = b.strip("*")[3:].strip()
        else:
            chapters[-1][1].append(" ".join(b.split("\n")))
    return title, author, chapters


def xhtml(title, body):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
            '<html xmlns="http://www.w3.org/1999/xhtml" '
            'xmlns:epub="http://www.idpf.org/2007/ops" lang="en" xml:lang="en">\n'
            '<head>\n<meta charset="UTF-8"/>\n<title>%s</title>\n'
            '<link rel="stylesheet" type="text/css" href="style.css"/>\n</head>\n'
            '<body>\n%s\n</body>\n</html>\n' % (html.escape(title), body))


def build(source, output):
    title, author, chapters = parse_story(source)
    files = []  # (name, bytes), in archive order after the mimetype
    files.append(("META-INF/container.xml", (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">\n'
        '  <rootfiles>\n'
        '    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>\n'
        '  </rootfiles>\n</container>\n').encode()))
    files.append(("OEBPS/style.css", b"body { font-family: serif; margin: 5%; }\n"
                  b"h1, h2 { text-align: center; }\np { text-indent: 1.2em; margin: 0; }\n"
                  b".cover { text-align: center; }\n.cover img { max-width: 100%; }\n"))
    files.append(("OEBPS/cover.png", png(400, 600, cover_pixel)))
    files.append(("OEBPS/cover.xhtml", xhtml(title, (
        '<div class="cover"><img src="cover.png" alt="%s"/></div>' % html.escape(title))).encode()))
    files.append(("OEBPS/title.xhtml", xhtml(title, (
        '<h1>%s</h1>\n<p class="author">by %s</p>' % (inline(title), inline(author)))).encode()))
    for i, (ctitle, paras) in enumerate(chapters, 1):
        body = '<section epub:type="chapter">\n<h2>%s</h2>\n%s\n</section>' % (
            inline(ctitle), "\n".join("<p>%s</p>" % inline(p) for p in paras))
        files.append(("OEBPS/chapter%d.xhtml" % i, xhtml(ctitle, body).encode()))
    nav_items = "\n".join('      <li><a href="chapter%d.xhtml">%s</a></li>' % (i, inline(t))
                          for i, (t, _) in enumerate(chapters, 1))
    files.append(("OEBPS/nav.xhtml", xhtml("Contents", (
        '<nav epub:type="toc" id="toc">\n  <h1>Contents</h1>\n  <ol>\n'
        '      <li><a href="title.xhtml">%s</a></li>\n%s\n  </ol>\n</nav>' % (
            inline(title), nav_items))).encode()))
    points = ['    <navPoint id="np0" playOrder="1"><navLabel><text>%s</text></navLabel>'
              '<content src="title.xhtml"/></navPoint>' % html.escape(title)]
    for i, (t, _) in enumerate(chapters, 1):
        points.append('    <navPoint id="np%d" playOrder="%d"><navLabel><text>%s</text></navLabel>'
                      '<content src="chapter%d.xhtml"/></navPoint>' % (i, i + 1, html.escape(t), i))
    files.append(("OEBPS/toc.ncx", (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">\n'
        '  <head><meta name="dtb:uid" content="%s"/></head>\n'
        '  <docTitle><text>%s</text></docTitle>\n  <navMap>\n%s\n  </navMap>\n</ncx>\n' % (
            BOOK_ID, html.escape(title), "\n".join(points))).encode()))
    manifest = [
        '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>',
        '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>',
        '<item id="css" href="style.css" media-type="text/css"/>',
        '<item id="cover-image" href="cover.png" media-type="image/png" properties="cover-image"/>',
        '<item id="cover" href="cover.xhtml" media-type="application/xhtml+xml"/>',
        '<item id="title" href="title.xhtml" media-type="application/xhtml+xml"/>',
    ] + ['<item id="chapter%d" href="chapter%d.xhtml" media-type="application/xhtml+xml"/>' % (i, i)
         for i in range(1, len(chapters) + 1)]
    spine = ['<itemref idref="cover" linear="no"/>', '<itemref idref="title"/>'] + [
        '<itemref idref="chapter%d"/>' % i for i in range(1, len(chapters) + 1)]
    opf = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="bookid">\n'
        '  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
        '    <dc:identifier id="bookid">%s</dc:identifier>\n'
        '    <dc:title>%s</dc:title>\n    <dc:creator>%s</dc:creator>\n'
        '    <dc:language>en</dc:language>\n'
        '    <meta property="dcterms:modified">%s</meta>\n'
        '    <meta name="cover" content="cover-image"/>\n'
        '  </metadata>\n  <manifest>\n    %s\n  </manifest>\n'
        '  <spine toc="ncx">\n    %s\n  </spine>\n</package>\n') % (
            BOOK_ID, html.escape(title), html.escape(author), MODIFIED,
            "\n    ".join(manifest), "\n    ".join(spine))
    files.insert(1, ("OEBPS/content.opf", opf.encode()))
    write_zip(output, files)


def write_zip(output, files):
    """mimetype first and stored; every entry with a fixed date and mode."""
    tmp = output + ".tmp"
    with zipfile.ZipFile(tmp, "w") as z:
        entries = [("mimetype", b"application/epub+zip", zipfile.ZIP_STORED)]
        entries += [(n, d, zipfile.ZIP_DEFLATED) for n, d in files]
        for name, data, method in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = method
            info.create_system = 3
            info.external_attr = 0o644 << 16
            z.writestr(info, data, compress_type=method, compresslevel=9)
    os.replace(tmp, output)


if __name__ == "__main__":
    src = sys.argv[1] if len(sys.argv) > 1 else SOURCE
    out = sys.argv[2] if len(sys.argv) > 2 else OUTPUT
    build(src, out)
    print(out)
