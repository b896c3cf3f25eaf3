"""Saved e-mails in the inbox: their attachments are submissions, the ledger records the message."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import unicodedata

import pytest

from pipeline import Period, check, run
from pipeline.findings import Code
from pipeline.ledger import LEDGER_NAME, Ledger
from pipeline.mail.message import MailReadError, attachment_name, read_letter
from pipeline.results import Status
from tests.mailmaker import NAME_FORMS, compose

NAME = "Báo cáo sáng kiến VT021.xlsx"


@pytest.mark.parametrize("nfd", [False, True])
@pytest.mark.parametrize("form", NAME_FORMS)
def test_an_attachment_name_in_any_form_is_read_nfc_with_its_bytes(form, nfd):
    raw = compose("Trường THCS <VT021@Example.vn>", "Báo cáo", [(NAME, b"PK\x03\x04data")], name_form=form, nfd=nfd)
    letter = read_letter(raw)
    assert [a.name for a in letter.attachments] == [NAME]
    assert unicodedata.is_normalized("NFC", letter.attachments[0].name)
    assert letter.attachments[0].data == b"PK\x03\x04data"
    assert letter.sender == "vt021@example.vn" and letter.sender_name == "Trường THCS"
    assert letter.sent_at == dt.datetime(2022, 6, 2, 9, 0) and letter.subject == "Báo cáo"


@pytest.mark.parametrize("base64", [False, True])
def test_a_forwarded_message_gives_its_attachments(base64):
    inner = compose("vt021@example.vn", "Báo cáo", [(NAME, b"PK\x03\x04")])
    letter = read_letter(compose("van.thu@example.vn", "Fwd: Báo cáo", forwarded=inner, forward_base64=base64))
    assert [a.name for a in letter.attachments] == [NAME] and letter.sender == "van.thu@example.vn"


@pytest.mark.parametrize(
    ("sent_as", "kept"),
    [
        ("../../etc/passwd.xlsx", "passwd.xlsx"),
        ("C:\\Users\\x\\y.xlsx", "y.xlsx"),
        ("CON.xlsx", "_CON.xlsx"),
        ("a\x00b\r\nc.xlsx", "abc.xlsx"),
        ("báo cáo.xlsx. ", "báo cáo.xlsx"),
        ("\u202eslx.exe", "slx.exe"),
        ("", "tệp đính kèm 1"),
    ],
)
def test_an_attachment_name_never_carries_a_folder_or_a_control_character(sent_as, kept):
    assert attachment_name(sent_as) == kept


def test_a_long_nfd_name_fits_a_file_system(tmp_path):
    name = unicodedata.normalize("NFD", "Báo cáo sáng kiến của Trường Tiểu học Vĩnh Thuận " * 6) + ".xlsx"
    kept = attachment_name(name)
    assert kept.endswith(".xlsx") and len(kept.encode("utf-8")) <= 255
    (tmp_path / kept).write_bytes(b"x")


def test_a_message_that_is_not_one_is_refused_with_a_reason():
    with pytest.raises(MailReadError, match="không phải là thư"):
        read_letter(b"just some text\nwithout any header\n")
    with pytest.raises(MailReadError, match="rỗng"):
        read_letter(b"")


@pytest.fixture
def mail_period(tmp_path, settings, form, roster):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")

    def drop(name: str, raw: bytes) -> None:
        path = inbox / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)

    def go():
        result = run(Period(s, form, roster))
        return result, json.loads((tmp_path / "outbox" / "run.json").read_text(encoding="utf-8"))

    return drop, go, s


@pytest.mark.slow
def test_an_emails_attachments_are_read_with_the_message_date_and_recorded(mail_period, filled):
    drop, go, s = mail_period
    workbook = filled(rows=[{}]).read_bytes()
    raw = compose(
        "CĐCS Trường THCS <vt021@example.vn>",
        "Báo cáo sáng kiến",
        [(NAME, workbook), ("Công văn.pdf", b"%PDF-1.4 a cover letter")],
        date=dt.datetime(2022, 6, 2, 16, 30),
        message_id="<bao-cao-1@example.vn>",
        nfd=True,
    )
    drop("thư/VT021.eml", raw)
    result, summary = go()
    by_name = {f.name: f for f in result.files}
    assert by_name[f"thư/VT021.eml/{NAME}"].status is Status.ACCEPTED
    assert by_name[f"thư/VT021.eml/{NAME}"].received_at == dt.datetime(2022, 6, 2, 16, 30)
    cover = by_name["thư/VT021.eml/Công văn.pdf"]
    assert cover.status is Status.IGNORED and "gửi kèm" in (cover.reason or "")  # beside its workbook
    [message] = summary["messages"]
    assert message["message_id"] == "<bao-cao-1@example.vn>" and message["sender"] == "vt021@example.vn"
    assert message["attachments"] == [f"thư/VT021.eml/{NAME}", "thư/VT021.eml/Công văn.pdf"]
    with Ledger(s.paths.history_dir / LEDGER_NAME) as ledger:
        [stored] = ledger.messages()
        files = {f.name: f for f in ledger.files()}
    assert stored.subject == "Báo cáo sáng kiến" and len(stored.files) == 2
    assert files[f"thư/VT021.eml/{NAME}"].message_id == "<bao-cao-1@example.vn>"
    assert files[f"thư/VT021.eml/{NAME}"].sender == "vt021@example.vn"
    assert _unit(summary, "VT021")["reporting"] == "on_time"
    # The same message saved again under another name counts once; the next run changes nothing.
    drop("đã lưu lại.eml", raw)  # the very same file
    drop("bản khác.eml", raw + b"\r\n")
    result, summary = go()
    again = {m["name"]: m for m in summary["messages"]}
    assert again["bản khác.eml"]["duplicate_of"] == "thư/VT021.eml"
    assert again["thư/VT021.eml"]["new"] is False
    assert not [f for f in result.files if f.new]
    with Ledger(s.paths.history_dir / LEDGER_NAME) as ledger:
        assert len(ledger.messages()) == 1


@pytest.mark.slow
def test_a_workbook_of_another_union_from_a_unions_address_is_a_warning_naming_both(mail_period, filled):
    drop, go, _ = mail_period
    raw = compose("vt030@example.vn", "Báo cáo", [(NAME, filled(rows=[{}]).read_bytes())])
    drop("a.eml", raw)
    result, _ = go()
    [book] = [f for f in result.files if f.name.endswith(".xlsx")]
    assert book.status is Status.ACCEPTED_WITH_WARNINGS and book.unit_code == "VT021"
    [warning] = [f for f in book.findings if f.code is Code.SENDER_OTHER_UNIT]
    assert "vt030@example.vn" in warning.message and "VT030" in warning.message and "VT021" in warning.message
    assert warning.location.cell  # at the unit code's cell


@pytest.mark.slow
def test_a_pdf_alone_is_the_senders_and_a_message_without_attachment_is_kept_with_its_reason(mail_period):
    drop, go, _ = mail_period
    drop("scan.eml", compose("vt030@example.vn", "Báo cáo", [("scan.pdf", b"%PDF-1.4 scan")]))
    drop("trống.eml", compose("vt031@example.vn", "Gửi báo cáo", message_id="<trong@example.vn>"))
    drop("hỏng.eml", b"\x00\x01 not a message")
    result, summary = go()
    [scan] = [f for f in result.files if f.name == "scan.eml/scan.pdf"]
    assert scan.status is Status.REJECTED and scan.unit_code == "VT030"
    messages = {m["name"]: m for m in summary["messages"]}
    assert messages["trống.eml"]["problem"].startswith("thư không có tệp đính kèm")
    assert messages["hỏng.eml"]["problem"].startswith("không đọc được thư")
    assert _unit(summary, "VT030")["reporting"] == "rejected"


@pytest.mark.slow
def test_check_reads_a_saved_email(tmp_path, filled, settings, form, roster):
    path = tmp_path / "thư.eml"
    path.write_bytes(compose("vt021@example.vn", "Báo cáo", [(NAME, filled(rows=[{}]).read_bytes())]))
    result = check(Period(settings, form, roster), [path])
    assert [(f.name, f.status) for f in result.files] == [(f"{path}/{NAME}", Status.ACCEPTED)]


def _unit(summary, code):
    return next(u for u in summary["units"] if u["code"] == code)


def test_compose_writes_what_the_library_reads_back():
    raw = compose("a@example.vn", "Tiêu đề", [(NAME, b"x")], name_form="utf8")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert [p.get_filename() for p in parsed.iter_attachments()] == [NAME]


@pytest.mark.slow
def test_an_outlook_msg_in_the_inbox_is_read_like_an_eml(mail_period, filled):
    from tests.msgfile import Attachment, Message, write_msg

    drop, go, _ = mail_period
    sent = dt.datetime(2022, 6, 2, 8, 0).astimezone()
    msg = Message(
        subject="Báo cáo sáng kiến",
        sender_name="Trường THCS",
        sender_address="vt021@example.vn",
        message_id="<msg-1@example.vn>",
        sent=sent,
        attachments=[Attachment(unicodedata.normalize("NFD", NAME), filled(rows=[{}]).read_bytes())],
    )
    drop("Thư Outlook.msg", write_msg(msg))
    result, summary = go()
    assert [(f.name, f.status) for f in result.files] == [(f"Thư Outlook.msg/{NAME}", Status.ACCEPTED)]
    [message] = summary["messages"]
    assert message["message_id"] == "<msg-1@example.vn>" and message["sender"] == "vt021@example.vn"
    assert result.files[0].received_at == dt.datetime(2022, 6, 2, 8, 0)


def test_an_outlook_message_attached_to_a_message_gives_its_attachments():
    from tests.msgfile import Attachment, Message, write_msg

    inner = write_msg(
        Message(subject="Báo cáo", sender_address="vt021@example.vn", attachments=[Attachment(NAME, b"PK")])
    )
    letter = read_letter(compose("van.thu@example.vn", "Chuyển tiếp", [("Báo cáo VT021.msg", inner)]))
    assert [(a.name, a.data) for a in letter.attachments] == [(NAME, b"PK")]


def test_the_officer_sees_each_message_that_gave_nothing_to_read(tmp_path, settings, form, roster, capsys):
    from pipeline.cli import main

    path = tmp_path / "trống.eml"
    path.write_bytes(compose("vt031@example.vn", "Gửi báo cáo"))
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "trống.eml của vt031@example.vn: thư không có tệp đính kèm" in out


@pytest.mark.slow
def test_the_same_attachment_in_two_messages_counts_once(mail_period, filled):
    drop, go, _ = mail_period
    book = filled(rows=[{}]).read_bytes()
    drop("một.eml", compose("vt021@example.vn", "Báo cáo", [(NAME, book)], date=dt.datetime(2022, 6, 1, 9, 0)))
    drop("hai.eml", compose("vt021@example.vn", "Gửi lại", [(NAME, book)], date=dt.datetime(2022, 6, 2, 9, 0)))
    result, summary = go()
    statuses = sorted((f.name, f.status) for f in result.files)
    assert statuses == [(f"hai.eml/{NAME}", Status.DUPLICATE), (f"một.eml/{NAME}", Status.ACCEPTED)]
    assert len(summary["messages"]) == 2 and summary["totals"]["initiatives"] == 1
