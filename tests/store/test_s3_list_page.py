"""Reading ListObjectsV2 answers (`store.s3_list_page`): the fast path reads exactly what
ElementTree reads, or leaves the page to ElementTree; it never reads a page wrong."""

from __future__ import annotations

from urllib.parse import quote
from xml.dom import minidom
from xml.etree import ElementTree

from hypothesis import given, settings
from hypothesis import strategies as st

from bucketvault.store.s3_list_page import _read_fast, _read_tree, read_list_page
from bucketvault.store.s3_wire import S3_XMLNS

FIELDS = ("Key", "LastModified", "ETag", "Size")
SEAWEED_FIELDS = ("Key", "ETag", "Size", "LastModified")

# What AWS sends (pretty-printed here; AWS sends it on one line).
AWS_PAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>photos</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>
  <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <Contents><Key>d0001/a%20b%2Bc.jpg</Key><LastModified>2026-12-01T10:00:00.000Z</LastModified>
    <ETag>&quot;9c29b9a04ba08fc63da1392142968a9a&quot;</ETag>
    <ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>
    <Size>1024</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>d0001/%C3%A9t%C3%A9</Key><LastModified>2026-12-01T10:00:01.000Z</LastModified>
    <ETag>&quot;603e22acb17f237c0faf69a69c0f1e3b-2&quot;</ETag><Size>10485760</Size>
    <Owner><ID>x</ID></Owner><StorageClass>STANDARD</StorageClass></Contents>
  <CommonPrefixes><Prefix>d0002/</Prefix></CommonPrefixes>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>"""


def test_an_aws_page_takes_the_fast_path() -> None:
    fast = _read_fast(AWS_PAGE)
    assert fast is not None and fast == _read_tree(AWS_PAGE)
    assert [info.key for info in fast.objects] == ["d0001/a b+c.jpg", "d0001/été"]
    assert fast.objects[1].etag == "603e22acb17f237c0faf69a69c0f1e3b-2"
    assert fast.objects[1].size == 10485760
    assert fast.prefixes == ["d0002/"]
    assert fast.next_token == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="


# What SeaweedFS 4.48 sends: its own order of the fields, Go's `&#34;` for quotes.
SEAWEED_PAGE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
    b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>probe</Name><Prefix></Prefix>'
    b"<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>real/</Key>"
    b"<ETag>&#34;d41d8cd98f00b204e9800998ecf8427e&#34;</ETag><Size>0</Size>"
    b"<StorageClass>STANDARD</StorageClass><LastModified>2026-12-02T01:50:07Z</LastModified>"
    b"</Contents><KeyCount>1</KeyCount></ListBucketResult>"
)


def test_a_seaweedfs_page_takes_the_fast_path() -> None:
    fast = _read_fast(SEAWEED_PAGE)
    assert fast is not None and fast == _read_tree(SEAWEED_PAGE)
    assert [(o.key, o.size, o.etag) for o in fast.objects] == [
        ("real/", 0, "d41d8cd98f00b204e9800998ecf8427e")
    ]


def test_a_truncated_page_never_loses_its_token() -> None:
    """A token the fast path cannot read (an escape in it) sends the page to ElementTree:
    reading it as the last page would end the listing early."""
    page = AWS_PAGE.replace(b"1ueGcxLPRx1Tr", b"1ue&amp;Gcx")
    assert _read_fast(page) is None
    assert read_list_page(page).next_token == "1ue&Gcx/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="


TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co")), max_size=12
)
ENTRY = st.fixed_dictionaries(
    {
        "key": TEXT.filter(bool),  # S3 keys are never empty
        "etag": st.sampled_from(['"0123abcd"', "0123abcd", '"0a-3"', "a&b", ""]),
        "size": st.integers(0, 10**12),
        "modified": st.sampled_from(
            ["2026-12-01T10:00:00.000Z", "2026-12-01T10:00:00Z", "Tue, 01 Dec 2026 10:00:00 GMT"]
        ),
        "checksums": st.booleans(),
    }
)


@settings(max_examples=400, deadline=None)
@given(
    entries=st.lists(ENTRY, max_size=6),
    prefixes=st.lists(TEXT.filter(bool), max_size=3),
    encoded=st.booleans(),
    token=st.none() | TEXT,
    pretty=st.booleans(),
    namespace=st.sampled_from(["default", "none", "prefixed"]),
    wording=st.sampled_from(["", "", "", "Contents", "CommonPrefixes>"]),
    order=st.sampled_from([FIELDS, SEAWEED_FIELDS]) | st.permutations(FIELDS),
    storage_class=st.booleans(),
)
def test_the_fast_path_reads_what_elementtree_reads(
    entries: list[dict[str, object]],
    prefixes: list[str],
    encoded: bool,
    token: str | None,
    pretty: bool,
    namespace: str,
    wording: str,
    order: tuple[str, ...],
    storage_class: bool,
) -> None:
    ElementTree.register_namespace("s3", S3_XMLNS)

    def tag(name: str) -> str:  # a namespaced name is written with the prefix s3:
        return f"{{{S3_XMLNS}}}{name}" if namespace == "prefixed" else name

    root = ElementTree.Element(tag("ListBucketResult"))
    if namespace == "default":
        root.set("xmlns", S3_XMLNS)
    ElementTree.SubElement(root, tag("Name")).text = wording
    ElementTree.SubElement(root, tag("IsTruncated")).text = "false" if token is None else "true"

    def name(text: str) -> str:
        return quote(text.encode(), safe="/") if encoded else text

    for entry in entries:
        item = ElementTree.SubElement(root, tag("Contents"))
        values = {
            "Key": name(str(entry["key"])),
            "LastModified": str(entry["modified"]),
            "ETag": str(entry["etag"]),
            "Size": str(entry["size"]),
        }
        for field in order:
            ElementTree.SubElement(item, tag(field)).text = values[field]
            if field == "ETag" and entry["checksums"]:
                ElementTree.SubElement(item, tag("ChecksumAlgorithm")).text = "CRC32"
            if field == "Size" and storage_class:
                ElementTree.SubElement(item, tag("StorageClass")).text = "STANDARD"
    for prefix in prefixes:
        item = ElementTree.SubElement(root, tag("CommonPrefixes"))
        ElementTree.SubElement(item, tag("Prefix")).text = name(prefix)
    if token is not None:
        ElementTree.SubElement(root, tag("NextContinuationToken")).text = token
    body = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    if pretty:
        body = minidom.parseString(body).toprettyxml(indent="  ", encoding="utf-8")
    reference = _read_tree(body)
    assert read_list_page(body) == reference
    fast = _read_fast(body)
    assert fast is None or fast == reference
