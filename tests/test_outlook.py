"""Outlook's formats: a .msg becomes a standard message, a winmail.dat gives up its files.

The .msg files are written by tests/msgfile.py, the winmail.dat files by `_tnef` below: no sample
file of either kind may be shipped or downloaded.
"""

from __future__ import annotations

import email
import email.policy
import random
import struct
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import olefile
import pytest

from pipeline.mail.outlook import MAX_DEPTH, MailReadError, msg_to_email, tnef_attachments
from tests.conftest import ROOT
from tests.msgfile import Attachment, Message, compound_file, write_msg

BROKEN_MSG = "tệp .msg bị hỏng hoặc không phải thư Outlook"
BROKEN_TNEF = "tệp winmail.dat bị hỏng"
TOO_DEEP = f"thư lồng trong thư quá {MAX_DEPTH} lớp: hãy mở thư bên trong và gửi riêng tệp đính kèm của nó"
REPORT = "Báo cáo sáng kiến VT021.xlsx"
# Over 4096 bytes: stored in sectors of its own, where the .pdf goes in the mini stream.
REPORT_BYTES = b"PK\x03\x04" + bytes(range(256)) * 20 + b"\0\0"
LETTER = "Công văn.pdf"
LETTER_BYTES = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"


def _message(**changes: object) -> Message:
    """A union's report as Outlook saves it: the report's name in NFD, as a Mac user's would be."""
    fields: dict[str, object] = {
        "subject": "Báo cáo sáng kiến quý 3 – Trường THCS Vĩnh Thuận",
        "sender_name": "Trường THCS Vĩnh Thuận",
        "sender_address": "thcs@example.vn",
        "to": [("Phòng Tổng hợp", "tonghop@example.vn")],
        "body": "Kính gửi Ban Tuyên giáo,\r\nĐơn vị gửi báo cáo sáng kiến quý 3.",
        "headers": (
            "Microsoft Mail Internet Headers Version 2.0\r\n"
            "Message-ID: <vt021.q3@example.vn>\r\n"
            "Date: Tue, 03 Sep 2024 08:15:00 +0700\r\n\r\n"
        ),
        "attachments": [
            Attachment(unicodedata.normalize("NFD", REPORT), REPORT_BYTES, short_name="BAOCAO~1.XLS"),
            Attachment(LETTER, LETTER_BYTES, short_name="CONGVA~1.PDF"),
        ],
    }
    return Message(**{**fields, **changes})  # type: ignore[arg-type]


def _files(message: EmailMessage) -> list[tuple[str | None, bytes]]:
    return [(part.get_filename(), part.get_content()) for part in message.iter_attachments()]


def test_a_msg_becomes_a_message_with_its_headers_body_and_files() -> None:
    converted = msg_to_email(write_msg(_message()))

    assert converted["From"].addresses[0].display_name == "Trường THCS Vĩnh Thuận"
    assert converted["From"].addresses[0].addr_spec == "thcs@example.vn"
    assert [a.addr_spec for a in converted["To"].addresses] == ["tonghop@example.vn"]
    assert converted["Subject"] == "Báo cáo sáng kiến quý 3 – Trường THCS Vĩnh Thuận"
    assert converted["Message-ID"] == "<vt021.q3@example.vn>"
    assert converted["Date"].datetime == datetime(2024, 9, 3, 1, 15, tzinfo=UTC)
    body = converted.get_body(("plain",))
    assert body is not None
    assert body.get_content().splitlines() == ["Kính gửi Ban Tuyên giáo,", "Đơn vị gửi báo cáo sáng kiến quý 3."]
    assert _files(converted) == [(REPORT, REPORT_BYTES), (LETTER, LETTER_BYTES)]
    assert unicodedata.is_normalized("NFC", _files(converted)[0][0] or "")

    again = email.message_from_bytes(converted.as_bytes(), policy=email.policy.default)
    assert isinstance(again, EmailMessage)
    assert _files(again) == [(REPORT, REPORT_BYTES), (LETTER, LETTER_BYTES)]
    assert again["Subject"] == converted["Subject"]


def test_without_received_headers_the_properties_give_date_and_message_id() -> None:
    sent = datetime(2024, 9, 3, 1, 15, tzinfo=UTC)
    converted = msg_to_email(write_msg(_message(headers="", message_id="<prop@example.vn>", sent=sent)))
    assert converted["Message-ID"] == "<prop@example.vn>"
    assert converted["Date"].datetime == sent

    draft = msg_to_email(write_msg(_message(headers="")))
    assert "Message-ID" not in draft and "Date" not in draft


def test_a_sender_without_an_smtp_address_is_taken_from_the_received_from() -> None:
    exchange = "/O=SO GD/OU=EXCHANGE ADMINISTRATIVE GROUP/CN=RECIPIENTS/CN=THCS"
    headers = "From: =?utf-8?b?VHLGsOG7nW5nIFRIQ1M=?= <thcs@example.vn>\r\nMessage-ID: <x@example.vn>\r\n"
    converted = msg_to_email(write_msg(_message(sender_address=exchange, headers=headers)))
    assert str(converted["From"]) == "Trường THCS <thcs@example.vn>"


def test_an_attached_message_is_a_message_part_converted_the_same_way() -> None:
    forwarded = _message(subject="Thư gốc của trường", headers="Message-ID: <goc@example.vn>\r\n")
    outer = _message(subject="Chuyển tiếp", attachments=[Attachment("Thư gốc của trường", message=forwarded)])
    [part] = msg_to_email(write_msg(outer)).iter_attachments()

    assert part.get_content_type() == "message/rfc822"
    assert part.get_filename() == "Thư gốc của trường.eml"
    inner = part.get_content()
    assert inner["Subject"] == "Thư gốc của trường" and inner["Message-ID"] == "<goc@example.vn>"
    assert _files(inner) == [(REPORT, REPORT_BYTES), (LETTER, LETTER_BYTES)]


def _nested(levels: int) -> Message:
    """A message with `levels` messages attached inside each other, the last with the report."""
    message = _message()
    for level in range(levels):
        message = _message(subject=f"Lớp {level}", attachments=[Attachment(f"Lớp {level}", message=message)])
    return message


def test_attached_messages_are_opened_to_max_depth_and_no_further() -> None:
    part: EmailMessage = msg_to_email(write_msg(_nested(MAX_DEPTH)))
    for _ in range(MAX_DEPTH):
        [attached] = part.iter_attachments()
        part = attached.get_content()
    assert _files(part) == [(REPORT, REPORT_BYTES), (LETTER, LETTER_BYTES)]

    with pytest.raises(MailReadError) as raised:
        msg_to_email(write_msg(_nested(MAX_DEPTH + 1)))
    assert str(raised.value) == TOO_DEEP


def _damaged() -> dict[str, bytes]:
    whole = write_msg(_message())
    noise = random.Random(7).randbytes(4096)
    return {
        "truncated": whole[: len(whole) // 3],
        "noise after the signature": whole[:8] + noise,
        "noise": noise,
        "short": b"garbage",
        "another compound file": compound_file({"WordDocument": b"\0" * 600, "\x05SummaryInformation": b""}),
    }


@pytest.mark.parametrize("case", list(_damaged()))
def test_a_damaged_or_foreign_file_is_a_read_error(case: str) -> None:
    with pytest.raises(MailReadError) as raised:
        msg_to_email(_damaged()[case])
    assert str(raised.value) == BROKEN_MSG


def test_bytes_are_never_taken_for_a_file_name_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """olefile opens the file that short bytes name: a real .msg sits there, and is not read."""
    (tmp_path / "x.msg").write_bytes(write_msg(_message()))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MailReadError):
        msg_to_email(b"x.msg")
    msg_to_email(write_msg(_message()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.msg"]


def test_without_extract_msg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "extract_msg", None)
    with pytest.raises(MailReadError) as raised:
        msg_to_email(write_msg(_message()))
    assert str(raised.value) == (
        'tệp thư Outlook (.msg) cần gói extract-msg: cài bằng `pip install ".[outlook]"` trong thư mục công cụ, '
        "hoặc lưu thư dạng .eml"
    )


def test_the_module_imports_without_the_optional_libraries() -> None:
    code = "import sys; sys.modules['extract_msg'] = sys.modules['tnefparse'] = None\nimport pipeline.mail.outlook"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_the_writer_makes_a_compound_file_that_olefile_reads_strictly() -> None:
    """tests/msgfile.py itself: olefile finds no defect at all, each storage's children form a
    search tree in MS-CFB order, and the property streams count the recipients and attachments."""
    data = write_msg(_message(attachments=[*_message().attachments, Attachment("Thư", message=_message())]))
    assert olefile.isOleFile(data=data)
    ole = olefile.OleFileIO(data, raise_defects=olefile.DEFECT_UNSURE)
    streams = {"/".join(path) for path in ole.listdir()}
    assert {
        "__properties_version1.0",
        "__substg1.0_0037001F",
        "__substg1.0_007D001F",
        "__recip_version1.0_#00000000/__substg1.0_39FE001F",
        "__attach_version1.0_#00000000/__substg1.0_37010102",
        "__attach_version1.0_#00000002/__substg1.0_3701000D/__properties_version1.0",
        "__nameid_version1.0/__substg1.0_00020102",
    } <= streams
    assert ole.openstream("__attach_version1.0_#00000000/__substg1.0_37010102").read() == REPORT_BYTES

    def in_order(sid: int) -> list[str]:
        if sid == olefile.NOSTREAM:
            return []
        entry = ole.direntries[sid]
        return [*in_order(entry.sid_left), entry.name, *in_order(entry.sid_right)]

    for entry in ole.direntries:
        if entry is not None and entry.entry_type in (olefile.STGTY_ROOT, olefile.STGTY_STORAGE):
            names = in_order(entry.sid_child)
            assert names == sorted(names, key=lambda n: (len(n), n.upper())), entry.name

    header = ole.openstream("__properties_version1.0").read()[:32]
    assert struct.unpack("<8x4I8x", header) == (1, 3, 1, 3)
    embedded = ole.openstream("__attach_version1.0_#00000002/__substg1.0_3701000D/__properties_version1.0")
    assert struct.unpack("<8x4I", embedded.read()[:24]) == (1, 2, 1, 2)


# --- winmail.dat (MS-OXTNEF) ---------------------------------------------------------------------

TNEF_SIGNATURE = 0x223E9F78
IMESSAGE = bytes.fromhex("0703020000000000C000000000000046")  # the IID in front of an attached message
# Attribute IDs: the attribute in the low word, its type in the high one (1 string, 6 bytes, 8 dword).
ATT_TNEF_VERSION, ATT_OEM_CODEPAGE = 0x00089006, 0x00069007
ATT_ATTACH_RENDDATA, ATT_ATTACH_TITLE, ATT_ATTACH_DATA, ATT_ATTACHMENT = 0x00069002, 0x00018010, 0x0006800F, 0x00069005


def _record(level: int, attribute: int, data: bytes) -> bytes:
    """One TNEF attribute: level (1 message, 2 attachment), ID, length, data, 16-bit sum of the data."""
    return struct.pack("<BII", level, attribute, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def _mapi(prop_type: int, prop_id: int, value: bytes) -> bytes:
    """An attAttachment attribute's data holding one variable-length MAPI property, padded to 4."""
    return struct.pack("<IHHII", 1, prop_type, prop_id, 1, len(value)) + value + b"\0" * (-len(value) % 4)


def _tnef(*attachments: tuple[bytes, bytes, str | None, bytes | None], codepage: int = 1252) -> bytes:
    """A winmail.dat whose attachments are (title, data, long name or None, attached TNEF or None)."""
    out = struct.pack("<IH", TNEF_SIGNATURE, 0x1234)
    out += _record(1, ATT_TNEF_VERSION, struct.pack("<I", 0x00010000))
    out += _record(1, ATT_OEM_CODEPAGE, struct.pack("<II", codepage, 0))
    for title, data, long_name, embedded in attachments:
        rendering = struct.pack("<HIhhI", 1, 0xFFFFFFFF, -1, -1, 0)  # a file, no position, no icon size
        out += _record(2, ATT_ATTACH_RENDDATA, rendering) + _record(2, ATT_ATTACH_TITLE, title + b"\0")
        if embedded is None:
            out += _record(2, ATT_ATTACH_DATA, data)
        else:  # PR_ATTACH_DATA_OBJ (PT_OBJECT)
            out += _record(2, ATT_ATTACHMENT, _mapi(0x000D, 0x3701, IMESSAGE + embedded))
        if long_name is not None:  # PR_ATTACH_LONG_FILENAME (PT_UNICODE, with its terminator)
            value = (long_name + "\0").encode("utf-16-le")
            out += _record(2, ATT_ATTACHMENT, _mapi(0x001F, 0x3707, value))
    return out


def test_winmail_dat_gives_its_files_with_long_names_in_nfc() -> None:
    data = _tnef((b"BAOCAO~1.XLS", REPORT_BYTES, unicodedata.normalize("NFD", REPORT), None))
    assert tnef_attachments(data) == [(REPORT, REPORT_BYTES)]


def test_winmail_dat_short_title_in_the_code_page() -> None:
    data = _tnef((LETTER.encode("cp1258"), LETTER_BYTES, None, None), codepage=1258)
    assert tnef_attachments(data) == [(LETTER, LETTER_BYTES)]


def test_winmail_dat_files_of_an_attached_message_come_in_its_place() -> None:
    inner = _tnef((b"BAOCAO~1.XLS", REPORT_BYTES, REPORT, None))
    data = _tnef((b"Thu goc", b"", None, inner), (b"CONGVA~1.PDF", LETTER_BYTES, LETTER, None))
    assert tnef_attachments(data) == [(REPORT, REPORT_BYTES), (LETTER, LETTER_BYTES)]


@pytest.mark.parametrize("case", ["noise", "short", "a byte changed"])
def test_a_damaged_winmail_dat_is_a_read_error(case: str) -> None:
    whole = _tnef((b"BAOCAO~1.XLS", REPORT_BYTES, REPORT, None))
    changed = bytearray(whole)
    changed[len(whole) // 2] ^= 0xFF
    data = {"noise": random.Random(7).randbytes(600), "short": whole[:5], "a byte changed": bytes(changed)}[case]
    with pytest.raises(MailReadError) as raised:
        tnef_attachments(data)
    assert str(raised.value) == BROKEN_TNEF


def test_without_tnefparse_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tnefparse", None)
    with pytest.raises(MailReadError) as raised:
        tnef_attachments(_tnef((b"BAOCAO~1.XLS", REPORT_BYTES, REPORT, None)))
    assert str(raised.value).startswith("tệp winmail.dat (định dạng riêng của Outlook) cần gói tnefparse để mở: ")
    assert 'pip install ".[outlook]"' in str(raised.value)
