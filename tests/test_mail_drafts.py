"""Reply and reminder drafts: what each union is told, threaded, attached, and written once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import re
from pathlib import Path

import pytest

from pipeline import Period, draft_reminders, draft_replies, run, send_drafts
from pipeline.config import Mail
from pipeline.errors import PipelineError
from pipeline.ledger import LEDGER_NAME, Ledger
from tests.mailmaker import compose

pytestmark = pytest.mark.slow

NAME = "Báo cáo sáng kiến.xlsx"
OFFICE = "ldld.vinhthuan@example.vn"


def parse(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[return-value]


@pytest.fixture
def period(tmp_path, settings, form, roster):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    s = dataclasses.replace(
        settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox"), mail=Mail(address=OFFICE, name="LĐLĐ huyện")
    )
    return Period(s, form, roster)


def own(code: str, **edits: object) -> list[dict[str, object]]:
    """One initiative of the union's own (the same one in two unions' files is a warning)."""
    return [{"ten_sang_kien": f"Sổ theo dõi điện tử của đơn vị {code}", "tac_gia": f"Nguyễn Văn {code}", **edits}]


def _drop(period: Period, name: str, raw: bytes) -> None:
    (period.settings.paths.inbox / name).write_bytes(raw)


def test_each_union_gets_the_reply_its_latest_file_calls_for_threaded_and_once(period, filled):
    good = filled(rows=own("VT021"), name="good.xlsx").read_bytes()
    bad = filled(rows=own("VT030", tac_gia=""), name="bad.xlsx", code="VT030").read_bytes()
    warned = filled(unit={"dien_thoai": "12345"}, rows=own("VT031"), name="warn.xlsx", code="VT031").read_bytes()
    _drop(period, "a.eml", compose("vt021@example.vn", "Báo cáo sáng kiến VT021", [(NAME, good)], message_id="<a@x>"))
    _drop(period, "b.eml", compose("vt030@example.vn", "Báo cáo", [(NAME, bad)], message_id="<b@x>"))
    _drop(period, "c.eml", compose("vt031@example.vn", "Gửi báo cáo", [(NAME, warned)], message_id="<c@x>"))
    _drop(period, "d.eml", compose("vt032@example.vn", "Báo cáo (quên đính kèm)", message_id="<d@x>"))
    _drop(period, "tin.eml", compose("ban-tin@example.com", "Bản tin tháng 6", message_id="<tin@x>"))
    (period.settings.paths.inbox / "VT040.xlsx").write_bytes(
        filled(rows=own("VT040"), name="h.xlsx", code="VT040").read_bytes()
    )
    run(period)
    drafted = draft_replies(period)
    by_unit = {d.unit_code: d for d in drafted.made}
    assert len(drafted.made) == 5 and [who for who, _ in drafted.skipped] == ["thư tin.eml (ban-tin@example.com)"]
    assert {code: d.kind for code, d in by_unit.items()} == {
        "VT021": "receipt",
        "VT030": "rejected",
        "VT031": "warnings",
        "VT032": "no_attachment",
        "VT040": "receipt",
    }
    rejected = parse(by_unit["VT030"].path)
    assert rejected["X-Unsent"] == "1" and rejected["To"] == "vt030@example.vn"
    assert rejected["From"].addresses[0].addr_spec == OFFICE
    assert rejected["From"].addresses[0].display_name == "LĐLĐ huyện"
    assert (
        rejected["Subject"] == "Re: Báo cáo"
        and rejected["In-Reply-To"] == "<b@x>"
        and "<b@x>" in rejected["References"]
    )
    [attachment] = rejected.iter_attachments()
    assert attachment.get_filename().endswith("phản hồi.xlsx") and attachment.get_content()[:2] == b"PK"
    body = rejected.get_body(("plain",)).get_content()
    assert "chưa được tiếp nhận" in body and "gửi lại trước ngày" in body
    warnings = parse(by_unit["VT031"].path)
    assert "kiểm tra lại" in warnings.get_body(("plain",)).get_content()
    assert len(list(warnings.iter_attachments())) == 1
    receipt = parse(by_unit["VT021"].path)
    text = receipt.get_body(("plain",)).get_content()
    assert "đã tiếp nhận" in text and "1 sáng kiến" in text and not list(receipt.iter_attachments())
    nothing = parse(by_unit["VT032"].path)
    assert "không lấy được tệp báo cáo" in nothing.get_body(("plain",)).get_content()
    assert nothing["In-Reply-To"] == "<d@x>"
    by_hand = parse(by_unit["VT040"].path)
    assert by_hand["To"] == period.roster.find("VT040").email and by_hand["In-Reply-To"] is None
    # Nothing new: nothing drafted. A correction from VT030 is answered on its own thread.
    assert draft_replies(period).made == []
    fixed = filled(rows=own("VT030"), name="fixed.xlsx", code="VT030").read_bytes()
    _drop(period, "b2.eml", compose("vt030@example.vn", "Re: Báo cáo", [(NAME, fixed)], message_id="<b2@x>"))
    run(period)
    [again] = draft_replies(period).made
    assert (again.unit_code, again.kind) == ("VT030", "receipt")
    assert parse(again.path)["Subject"] == "Re: Báo cáo"
    with Ledger(period.settings.paths.history_dir / LEDGER_NAME) as ledger:
        assert len(ledger.drafts()) == 6 and {d.state for d in ledger.drafts()} == {"drafted"}
    assert len(send_drafts(period).to_send) == 6  # listed, not sent


def test_a_draft_parses_back_to_its_subject_recipients_body_and_attachment(period, filled):
    bad = filled(rows=[{"tac_gia": ""}], name="Báo cáo Trường Mầm non.xlsx").read_bytes()
    _drop(period, "a.eml", compose("vt021@example.vn", "Báo cáo sáng kiến", [(NAME, bad)], message_id="<a@x>"))
    run(period)
    [draft] = draft_replies(period).made
    raw = draft.path.read_bytes()
    assert raw.isascii()  # every header and part encoded: any mail program reads it
    parsed = parse(draft.path)
    assert parsed["Subject"] == draft.subject == "Re: Báo cáo sáng kiến"
    assert [a.addr_spec for a in parsed["To"].addresses] == list(draft.to) == ["vt021@example.vn"]
    [attachment] = parsed.iter_attachments()
    assert attachment.get_filename() == draft.attachments[0] and re.search(
        rb"filename\*(0\*)?=utf-8''", raw
    )  # RFC 2231
    assert "Kính gửi Ban Chấp hành" in parsed.get_body(("plain",)).get_content()


def test_a_name_or_subject_with_line_breaks_never_adds_a_header(period, filled):
    subject = "=?utf-8?b?" + __import__("base64").b64encode("Báo cáo\r\nBcc: evil@example.com".encode()).decode() + "?="
    raw = compose("vt021@example.vn", "x", [(NAME, filled(rows=[{}]).read_bytes())], message_id="<a@x>")
    raw = raw.replace(b"Subject: x", b"Subject: " + subject.encode())
    _drop(period, "a.eml", raw)
    run(period)
    [draft] = draft_replies(period).made
    parsed = parse(draft.path)
    assert parsed["Bcc"] is None and "evil@example.com" not in parsed["To"]
    assert "\n" not in parsed["Subject"] and parsed["Subject"].startswith("Re: Báo cáo")


def test_reminders_before_and_after_the_deadline_with_the_template_once(period, filled, roster):
    _drop(period, "a.eml", compose("vt021@example.vn", "Báo cáo", [(NAME, filled(rows=[{}]).read_bytes())]))
    bad = filled(rows=own("VT030", tac_gia=""), name="bad.xlsx", code="VT030").read_bytes()
    _drop(period, "b.eml", compose("vt030@example.vn", "Báo cáo", [(NAME, bad)]))
    run(period)
    deadline = period.settings.deadline
    first = draft_reminders(period, today=deadline - dt.timedelta(days=2))
    codes = {d.unit_code for d in first.made}
    assert "VT021" not in codes and "VT030" in codes and len(codes) == len(roster.active) - 1
    assert {d.kind for d in first.made} == {"reminder"}
    for d in first.made:  # every space of a long Vietnamese subject survives the encoding
        assert parse(d.path)["Subject"] == f"Nhắc nộp báo cáo sáng kiến - {roster.find(d.unit_code).name}"
    vt030 = parse(next(d.path for d in first.made if d.unit_code == "VT030"))
    [template] = vt030.iter_attachments()
    assert template.get_filename().startswith("VT030") and template.get_filename().endswith(".xlsx")
    assert "chưa được tiếp nhận vì còn lỗi" in vt030.get_body(("plain",)).get_content()
    # Once per union: again only when asked, and after the deadline it is an overdue notice.
    later = draft_reminders(period, today=deadline + dt.timedelta(days=1))
    assert later.made == [] and len(later.skipped) == len(codes)
    overdue = draft_reminders(period, today=deadline + dt.timedelta(days=1), again=True)
    assert {d.kind for d in overdue.made} == {"overdue"} and len(overdue.made) == len(codes)
    text = parse(overdue.made[0].path).get_body(("plain",)).get_content()
    assert f"Hạn nộp ngày {deadline:%d/%m/%Y} đã qua" in text


def test_drafts_need_the_offices_address(period):
    bare = period.with_settings(dataclasses.replace(period.settings, mail=Mail()))
    with pytest.raises(PipelineError, match=r"mail\.address"):
        draft_replies(bare)


def test_a_deleted_draft_is_withdrawn_not_sent_nor_failed(period, filled, smtp_server):
    _drop(period, "a.eml", compose("vt021@example.vn", "Báo cáo", [(NAME, filled(rows=own("VT021")).read_bytes())]))
    run(period)
    [draft] = draft_replies(period).made
    draft.path.unlink()
    sending = send_drafts(period, send=True)
    assert sending.to_send == [] and sending.failed == [] and len(sending.withdrawn) == 1
    assert smtp_server.messages == []


def test_a_configuration_mistake_in_mail_is_said_with_its_section(tmp_path, capsys):
    from pipeline.cli import main
    from tests.conftest import ROOT

    config = tmp_path / "pipeline.toml"
    config.write_text((ROOT / "pipeline.toml").read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["mail", "fetch", "--config", str(config)]) == 7
    assert "[mail.imap]" in capsys.readouterr().err  # shown as written, not taken for console markup


def test_a_reminder_written_after_the_report_date_is_dated_the_report_date(period):
    run(period)
    made = draft_reminders(period).made  # today is long after this period's report date
    as_of = period.settings.as_of
    text = parse(made[0].path).get_body(("plain",)).get_content()
    assert {d.kind for d in made} == {"overdue"} and f"đến ngày {as_of:%d/%m/%Y}" in text
    assert f"trước ngày {period.settings.reply_by(as_of):%d/%m/%Y}" in text
