"""A writer of small Outlook .msg files for the tests (no sample file may be shipped or downloaded).

Two layers, each following its Microsoft specification as far as a minimal file needs:

- `compound_file(tree)`: a Compound File Binary (MS-CFB), version 3: 512-byte sectors, streams under
  4096 bytes in the mini stream (64-byte mini sectors, chained by the mini FAT), the others in
  sectors chained by the FAT; all FAT sectors listed in the header's DIFAT (so at most 109 of them,
  about 7 MB: plenty for a test). Each storage's children form a balanced binary search tree in the
  specification's order (shorter name first, then by upper-cased name), every node black: the two
  rules the specification states (no two reds in a row, left < right) hold.
- `write_msg(message)`: an Outlook message (MS-OXMSG) as such a tree: the property stream
  `__properties_version1.0` (its header, then one 16-byte entry per property), one
  `__substg1.0_XXXXYYYY` stream per variable-length property (strings PT_UNICODE, UTF-16-LE without
  terminator), the named-property mapping storage (empty), recipient storages
  `__recip_version1.0_#N` and attachment storages `__attach_version1.0_#N`, an attached message
  being an embedded message storage `__substg1.0_3701000D` inside its attachment storage.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime

SECTOR, MINI_SECTOR, MINI_CUTOFF = 512, 64, 4096
FREE, END, FAT_SECTOR, NONE = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF

# A storage is a dict of its children by name; a stream is its bytes.
Tree = dict[str, "Tree | bytes"]


def _chain(first: int, count: int) -> list[int]:
    """FAT (or mini FAT) entries for `count` consecutive sectors from `first`."""
    return [first + i + 1 for i in range(count - 1)] + [END] if count else []


def _sectors(size: int, unit: int) -> int:
    return -(-size // unit)


def _pad(data: bytes, unit: int) -> bytes:
    return data + b"\0" * (-len(data) % unit)


def compound_file(tree: Tree) -> bytes:
    """The bytes of a compound file whose root storage holds `tree`."""
    # Directory entries in depth-first order; the root entry is number 0.
    entries: list[dict] = [{"name": "Root Entry", "type": 5, "data": b"", "children": []}]

    def add(storage: Tree, parent: dict) -> None:
        for name, child in storage.items():
            entry = {"name": name, "type": 2 if isinstance(child, bytes) else 1, "children": []}
            entry["data"] = child if isinstance(child, bytes) else b""
            parent["children"].append(len(entries))
            entries.append(entry)
            if not isinstance(child, bytes):
                add(child, entry)

    add(tree, entries[0])

    def balanced(ids: list[int]) -> int:
        """The root of a balanced tree of `ids` (sorted), its left/right set on the entries."""
        if not ids:
            return NONE
        middle = len(ids) // 2
        entries[ids[middle]]["left"] = balanced(ids[:middle])
        entries[ids[middle]]["right"] = balanced(ids[middle + 1 :])
        return ids[middle]

    for entry in entries:
        order = sorted(entry["children"], key=lambda i: (len(entries[i]["name"]), entries[i]["name"].upper()))
        entry["child"] = balanced(order)

    # Small streams in the mini stream, the others in sectors of their own.
    mini_stream, mini_fat, big = b"", [], []
    for entry in entries[1:]:
        data = entry["data"]
        if entry["type"] == 1:
            entry["start"] = 0  # a storage has no data
        elif not data:
            entry["start"] = END  # an empty stream has no sector (olefile checks it)
        elif len(data) < MINI_CUTOFF:
            entry["start"] = len(mini_stream) // MINI_SECTOR
            mini_fat += _chain(entry["start"], _sectors(len(data), MINI_SECTOR))
            mini_stream += _pad(data, MINI_SECTOR)
        else:
            big.append(entry)
    directory = _sectors(len(entries), SECTOR // 128)
    mini_fat_sectors = _sectors(len(mini_fat) * 4, SECTOR)
    others = (
        directory + mini_fat_sectors + _sectors(len(mini_stream), SECTOR)
        + sum(_sectors(len(e["data"]), SECTOR) for e in big)
    )  # fmt: skip
    fat_sectors = 1
    while fat_sectors * SECTOR // 4 < fat_sectors + others:
        fat_sectors += 1
    assert fat_sectors <= 109, "too large for a header-only DIFAT"

    # Sectors in order: FAT, directory, mini FAT, mini stream, big streams.
    fat = [FAT_SECTOR] * fat_sectors
    first_directory = len(fat)
    fat += _chain(first_directory, directory)
    first_mini_fat = len(fat) if mini_fat else END
    fat += _chain(len(fat), mini_fat_sectors)
    entries[0]["start"] = len(fat) if mini_stream else END
    entries[0]["data"] = mini_stream
    fat += _chain(len(fat), _sectors(len(mini_stream), SECTOR))
    body = b""
    for entry in big:
        entry["start"] = len(fat)
        fat += _chain(len(fat), _sectors(len(entry["data"]), SECTOR))
        body += _pad(entry["data"], SECTOR)

    def record(entry: dict) -> bytes:
        name = entry["name"].encode("utf-16-le") + b"\0\0"
        assert len(name) <= 64, entry["name"]
        return struct.pack(
            "<64sHBB3I16sI16sIQ",
            name, len(name), entry["type"], 1,  # 1: black
            entry.get("left", NONE), entry.get("right", NONE), entry["child"],
            b"", 0, b"", entry["start"], len(entry["data"]),
        )  # fmt: skip

    unused = struct.pack("<64sHBB3I16sI16sIQ", b"", 0, 0, 0, NONE, NONE, NONE, b"", 0, b"", 0, 0)
    records = b"".join(map(record, entries)) + unused * (directory * 4 - len(entries))
    difat = list(range(fat_sectors)) + [FREE] * (109 - fat_sectors)
    header = struct.pack(
        "<8s16s5H6s9I109I",
        bytes.fromhex("D0CF11E0A1B11AE1"), b"", 0x3E, 3, 0xFFFE, 9, 6, b"",
        0, fat_sectors, first_directory, 0, MINI_CUTOFF, first_mini_fat, mini_fat_sectors, END, 0,
        *difat,
    )  # fmt: skip
    fat += [FREE] * (fat_sectors * SECTOR // 4 - len(fat))
    return (
        header + struct.pack(f"<{len(fat)}I", *fat) + records
        + _pad(struct.pack(f"<{len(mini_fat)}I", *mini_fat), SECTOR) + _pad(mini_stream, SECTOR) + body
    )  # fmt: skip


@dataclass
class Attachment:
    """A file attached by value (`data`), or an attached message (`message`)."""

    long_name: str
    data: bytes = b""
    message: Message | None = None
    short_name: str = "ATTACH~1.DAT"


@dataclass
class Message:
    subject: str = ""
    sender_name: str = ""
    sender_address: str = ""
    to: list[tuple[str, str]] = field(default_factory=list)  # (display name, SMTP address)
    body: str = ""
    headers: str = ""  # PR_TRANSPORT_MESSAGE_HEADERS, as received
    message_id: str = ""  # PR_INTERNET_MESSAGE_ID
    sent: datetime | None = None  # PR_CLIENT_SUBMIT_TIME
    attachments: list[Attachment] = field(default_factory=list)


def _filetime(moment: datetime) -> int:
    return round((moment - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10_000_000)


def _properties(header: bytes, props: dict[int, object]) -> Tree:
    """The property stream and the value streams of `props` ({property tag: value}).

    Fixed-length values (int: PT_LONG; datetime: PT_SYSTIME) sit in their entry; strings (PT_UNICODE)
    and bytes (PT_BINARY) in a stream each, the entry giving their size (plus 2 for a string's
    terminator, which the stream leaves out); an embedded message (PT_OBJECT, a Tree) in a storage,
    its size 0xFFFFFFFF.
    """
    tree: Tree = {}
    entries = b""
    for tag, value in props.items():
        if isinstance(value, int | datetime):
            number = value if isinstance(value, int) else _filetime(value)
            entries += struct.pack("<IIQ", tag, 6, number)  # 6: readable, writable
            continue
        if isinstance(value, str):
            stream = value.encode("utf-16-le")
            size = len(stream) + 2
        else:
            stream = value  # type: ignore[assignment]
            size = NONE if isinstance(value, dict) else len(stream)
        tree[f"__substg1.0_{tag:08X}"] = stream
        entries += struct.pack("<IIII", tag, 6, size, 0)
    return {"__properties_version1.0": header + entries, **tree}


def _message(message: Message, top: bool) -> Tree:
    """The storage of `message`: the root of a .msg file when `top`, else an embedded message."""
    sender = message.sender_address
    props: dict[int, object] = {
        0x001A001F: "IPM.Note",
        0x340D0003: 0x00040000,  # PR_STORE_SUPPORT_MASK: STORE_UNICODE_OK, the strings are UTF-16
        0x0037001F: message.subject,
        0x0C1A001F: message.sender_name,
        0x5D01001F: sender,
        0x0C1F001F: sender,
        0x0E04001F: "; ".join(name for name, _ in message.to),
        0x1000001F: message.body,
    }
    if message.headers:
        props[0x007D001F] = message.headers
    if message.message_id:
        props[0x1035001F] = message.message_id
    if message.sent:
        props[0x00390040] = message.sent
    counts = (len(message.to), len(message.attachments)) * 2
    tree = _properties(struct.pack("<8x4I" + ("8x" if top else ""), *counts), props)
    if top:
        names = ("00020102", "00030102", "00040102")  # GUIDs, entries, names: none
        tree["__nameid_version1.0"] = {f"__substg1.0_{name}": b"" for name in names}
    for i, (name, address) in enumerate(message.to):
        recipient = {0x0C150003: 1, 0x3001001F: name, 0x3002001F: "SMTP", 0x3003001F: address, 0x39FE001F: address}
        tree[f"__recip_version1.0_#{i:08X}"] = _properties(b"\0" * 8, recipient)  # type 1: To
    for i, attachment in enumerate(message.attachments):
        props = {0x0E210003: i, 0x3001001F: attachment.long_name}
        if attachment.message is None:
            props |= {0x37050003: 1, 0x3704001F: attachment.short_name, 0x3707001F: attachment.long_name}
            props[0x37010102] = attachment.data  # PR_ATTACH_DATA_BIN, method 1: by value
        else:
            props |= {0x37050003: 5, 0x3701000D: _message(attachment.message, top=False)}  # 5: embedded
        tree[f"__attach_version1.0_#{i:08X}"] = _properties(b"\0" * 8, props)
    return tree


def write_msg(message: Message) -> bytes:
    """The bytes of an Outlook .msg file holding `message`."""
    return compound_file(_message(message, top=True))
