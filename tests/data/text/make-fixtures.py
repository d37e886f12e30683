#!/usr/bin/env python3
"""Makes the EPUB fixtures for tests/test_text_load.c (Python stdlib only).

Deterministic: rerunning gives identical bytes. The expected values the
tests assert are written by hand in the test, from the contents below.

Usage: python3 tests/data/text/make-fixtures.py [OUTPUT_DIR]
"""
import os
import struct
import sys
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

CONTAINER = ('<?xml version="1.0" encoding="UTF-8"?>\n'
             '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">\n'
             '<rootfiles><rootfile full-path="%s" media-type="application/oebps-package+xml"/>'
             '</rootfiles></container>\n')


def tiny_png():
    """A 2x2 RGB PNG."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    raw = b"\x00\xff\x00\x00\x00\xff\x00" + b"\x00\x00\x00\xff\xff\xff\xff"
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def xhtml(body, doctype='<!DOCTYPE html>'):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n%s\n'
            '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">\n'
            '<head><title>t</title><style>p { color: red; }</style></head>\n'
            '<body>\n%s\n</body>\n</html>\n' % (doctype, body))


def write_zip(path, files, mimetype=True):
    entries = ([("mimetype", b"application/epub+zip", zipfile.ZIP_STORED)] if mimetype else [])
    entries += [(n, d if isinstance(d, bytes) else d.encode(), zipfile.ZIP_DEFLATED)
                for n, d in files]
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w") as z:
        for name, data, method in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = method
            info.create_system = 3
            info.external_attr = 0o644 << 16
            z.writestr(info, data, compress_type=method, compresslevel=9)
    os.replace(tmp, path)


def opf(version, metadata, manifest, spine, spine_attrs=""):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<package xmlns="http://www.idpf.org/2007/opf" version="%s" unique-identifier="id">\n'
            '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
            '<dc:identifier id="id">urn:uuid:00000000-0000-4000-8000-000000000001</dc:identifier>\n'
            '%s\n</metadata>\n<manifest>\n%s\n</manifest>\n<spine%s>\n%s\n</spine>\n</package>\n'
            % (version, metadata, "\n".join(manifest), spine_attrs, "\n".join(spine)))


def epub3(out):
    """EPUB 3: nav titles, a subfolder, a %20 href, skipped content, a cover."""
    nav = xhtml('<nav epub:type="landmarks"><ol><li><a href="../text/ch4.xhtml">Wrong</a></li>'
                '</ol></nav>\n<nav epub:type="toc"><ol>'
                '<li><a href="../text/ch%201.xhtml">The Harbor</a></li>'
                '<li><a href="../text/./ch2.xhtml#top">The Storm</a>'
                '<ol><li><a href="../../OEBPS/text/ch3.xhtml">Calm</a></li></ol></li>'
                '</ol></nav>')
    ch1 = xhtml('<h1>The Harbor</h1>\n<p>First &amp; foremost,\nthe tide came in.</p>\n'
                '<p>It was 3.5&#160;m high&#8230; &#8220;Really?&#8221; she asked.</p>\n'
                '<script>var hidden = "script text";</script>\n'
                '<svg xmlns="http://www.w3.org/2000/svg"><text>SVG text</text></svg>\n'
                '<img src="../cover.png" alt="alt text"/>')
    ch2 = xhtml('<section><h2 id="top">The Storm</h2>\n'
                '<div>Rain fell.<br/>Wind blew.</div>\n'
                '<ul><li>One</li><li>Two</li></ul>\n'
                '<blockquote>Quoted <em>words</em>.</blockquote></section>')
    ch3 = xhtml('<h2>Afterwards</h2><p>The sea was flat.</p>')
    ch4 = xhtml('<p>Unnamed chapter text.</p>')
    notes = xhtml('<p>Footnote text.</p>')
    cover = xhtml('<div><img src="cover.png" alt="Cover"/></div>')
    manifest = [
        '<item id="nav" href="nav/nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>',
        '<item id="img" href="cover.png" media-type="image/png" properties="cover-image"/>',
        '<item id="cover" href="cover.xhtml" media-type="application/xhtml+xml"/>',
        '<item id="c1" href="text/ch%201.xhtml" media-type="application/xhtml+xml"/>',
        '<item id="c2" href="text/ch2.xhtml" media-type="application/xhtml+xml"/>',
        '<item id="c3" href="text/ch3.xhtml" media-type="application/xhtml+xml"/>',
        '<item id="c4" href="text/ch4.xhtml" media-type="application/xhtml+xml"/>',
        '<item id="notes" href="text/notes.xhtml" media-type="application/xhtml+xml"/>',
    ]
    spine = ['<itemref idref="cover"/>', '<itemref idref="nav"/>', '<itemref idref="c1"/>',
             '<itemref idref="c2"/>', '<itemref idref="notes" linear="no"/>',
             '<itemref idref="c3"/>', '<itemref idref="c4"/>']
    meta = ('<dc:title>Tide &amp; Time</dc:title>\n<dc:creator>Ann Example</dc:creator>\n'
            '<dc:creator>Bo Sample</dc:creator>\n<dc:language>en</dc:language>\n'
            '<meta property="dcterms:modified">2026-01-01T00:00:00Z</meta>')
    write_zip(out, [("META-INF/container.xml", CONTAINER % "OEBPS/package.opf"),
                    ("OEBPS/package.opf", opf("3.0", meta, manifest, spine)),
                    ("OEBPS/nav/nav.xhtml", nav), ("OEBPS/cover.png", tiny_png()),
                    ("OEBPS/cover.xhtml", cover), ("OEBPS/text/ch 1.xhtml", ch1),
                    ("OEBPS/text/ch2.xhtml", ch2), ("OEBPS/text/ch3.xhtml", ch3),
                    ("OEBPS/text/ch4.xhtml", ch4), ("OEBPS/text/notes.xhtml", notes)])


def epub2(out):
    """EPUB 2: NCX titles (nested, with a fragment), a part page with only a
    heading, a chapter found only by its heading, a JPEG cover by meta."""
    doctype = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" '
               '"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">')
    part = xhtml('<h1>Part One</h1>', doctype)
    c1 = xhtml('<h2>Chapter 1: Arrival</h2>\n<p>Mr.&nbsp;Brown arrived at 9 a.m. on Monday.</p>\n'
               '<p>He said&mdash;quietly&mdash;"Hello."</p>', doctype)
    c2 = xhtml('<p id="start">Dr. Grey left.</p>', doctype)
    c3 = xhtml('<h3>Epilogue</h3><p>The end.</p>', doctype)
    ncx = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">\n'
           '<head><meta name="dtb:uid" content="x"/></head>\n'
           '<docTitle><text>The Second Edition</text></docTitle>\n<navMap>\n'
           '<navPoint id="p1" playOrder="1"><navLabel><text>Part One</text></navLabel>'
           '<content src="part1.xhtml"/>\n'
           '  <navPoint id="p2" playOrder="2"><navLabel><text>Chapter 1</text></navLabel>'
           '<content src="c1.xhtml"/></navPoint>\n'
           '  <navPoint id="p3" playOrder="3"><navLabel><text>Departure</text></navLabel>'
           '<content src="c2.xhtml#start"/></navPoint>\n'
           '</navPoint>\n</navMap>\n</ncx>\n')
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
    manifest = [
        '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>',
        '<item id="cover-jpg" href="images/cover.jpg" media-type="image/jpeg"/>',
        '<item id="part1" href="part1.xhtml" media-type="application/xhtml+xml"/>',
        '<item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/>',
        '<item id="c2" href="c2.xhtml" media-type="application/xhtml+xml"/>',
        '<item id="c3" href="c3.xhtml" media-type="application/xhtml+xml"/>',
    ]
    spine = ['<itemref idref="part1"/>', '<itemref idref="c1"/>', '<itemref idref="c2"/>',
             '<itemref idref="c3"/>']
    meta = ('<dc:title>The Second Edition</dc:title>\n<dc:creator>C. Writer</dc:creator>\n'
            '<meta name="cover" content="cover-jpg"/>')
    write_zip(out, [("META-INF/container.xml", CONTAINER % "content.opf"),
                    ("content.opf", opf("2.0", meta, manifest, spine, ' toc="ncx"')),
                    ("toc.ncx", ncx), ("images/cover.jpg", jpeg), ("part1.xhtml", part),
                    ("c1.xhtml", c1), ("c2.xhtml", c2), ("c3.xhtml", c3)])


def simple_opf(spine_ids, extra_meta="", doctype=""):
    manifest = ['<item id="%s" href="%s.xhtml" media-type="application/xhtml+xml"/>' % (i, i)
                for i in spine_ids]
    spine = ['<itemref idref="%s"/>' % i for i in spine_ids]
    text = opf("3.0", '<dc:title>Plain</dc:title>' + extra_meta, manifest, spine)
    if doctype:
        text = text.replace("<package", doctype + "\n<package", 1)
    return text


def bad_fixtures(outdir):
    write_zip(os.path.join(outdir, "not-epub.epub"),
              [("hello.txt", "This zip holds no container.xml.\n")], mimetype=False)
    write_zip(os.path.join(outdir, "missing-spine.epub"), [
        ("META-INF/container.xml", CONTAINER % "OEBPS/content.opf"),
        ("OEBPS/content.opf", simple_opf(["ch1", "ch2"])),
        ("OEBPS/ch1.xhtml", xhtml("<p>Present.</p>"))])
    with open(os.path.join(outdir, "epub3-nav.epub"), "rb") as f:
        whole = f.read()
    with open(os.path.join(outdir, "truncated.epub"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    # External entity: must not be fetched (the title keeps only "Hostile").
    xxe = '<!DOCTYPE package [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    write_zip(os.path.join(outdir, "hostile-xxe.epub"), [
        ("META-INF/container.xml", CONTAINER % "OEBPS/content.opf"),
        ("OEBPS/content.opf", simple_opf(["ch1"], doctype=xxe).replace(
            "<dc:title>Plain</dc:title>", "<dc:title>&xxe;Hostile</dc:title>")),
        ("OEBPS/ch1.xhtml", xhtml('<p>Safe text.</p>',
                                  '<!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'))])
    # Exponential entity expansion ("billion laughs").
    laughs = ['<!ENTITY lol0 "lol">'] + ['<!ENTITY lol%d "%s">' % (i, ("&lol%d;" % (i - 1)) * 10)
                                         for i in range(1, 10)]
    write_zip(os.path.join(outdir, "hostile-laughs.epub"), [
        ("META-INF/container.xml", CONTAINER % "OEBPS/content.opf"),
        ("OEBPS/content.opf", simple_opf(["ch1"], doctype="<!DOCTYPE package [%s]>" % "".join(
            laughs)).replace("<dc:title>Plain</dc:title>", "<dc:title>&lol9;</dc:title>")),
        ("OEBPS/ch1.xhtml", xhtml("<p>Laughing.</p>"))])
    # A zip bomb: 80 MB of spaces compress to a few tens of kilobytes.
    write_zip(os.path.join(outdir, "zipbomb.epub"), [
        ("META-INF/container.xml", CONTAINER % "OEBPS/content.opf"),
        ("OEBPS/content.opf", simple_opf(["ch1"])),
        ("OEBPS/ch1.xhtml", b"<p>" + b" " * (80 * 1024 * 1024) + b"</p>")])


def encodings(out):
    """Content documents that are not UTF-8: a declared Latin-1 one, an
    undeclared Windows-1252 one, and UTF-16 with a broken surrogate at the
    end (libxml2 reports an encoding error, which must not be printed)."""
    manifest = ['<item id="%s" href="%s.xhtml" media-type="application/xhtml+xml"/>' % (i, i)
                for i in ("a", "b", "c")]
    spine = ['<itemref idref="%s"/>' % i for i in ("a", "b", "c")]
    latin1 = ('<?xml version="1.0" encoding="iso-8859-1"?>\n<html><body><p>Un caf\xe9 noir.</p>'
              '</body></html>').encode("latin-1")
    cp1252 = b"<html><body><p>\x93Quoted\x94 na\xefve.</p></body></html>"
    utf16 = (b"\xff\xfe" + "<html><body><p>Sixteen bits.</p></body></html>".encode("utf-16-le") +
             b"\x00\xd8\x00\x00")
    write_zip(out, [("META-INF/container.xml", CONTAINER % "content.opf"),
                    ("content.opf", opf("3.0", "<dc:title>Encodings</dc:title>", manifest, spine)),
                    ("a.xhtml", latin1), ("b.xhtml", cp1252), ("c.xhtml", utf16)])


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else HERE
    os.makedirs(outdir, exist_ok=True)
    epub3(os.path.join(outdir, "epub3-nav.epub"))
    epub2(os.path.join(outdir, "epub2-ncx.epub"))
    encodings(os.path.join(outdir, "encodings.epub"))
    bad_fixtures(outdir)


if __name__ == "__main__":
    main()
