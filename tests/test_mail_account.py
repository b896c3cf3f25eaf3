"""The mail account's password: never in the file; the environment, else the system's keyring."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.config import Imap, Mail, Smtp
from pipeline.mail.account import ENV_PASSWORD, MailError, password, save_password
from tests.test_mail_period import memory_keyring


@pytest.fixture
def account(settings, monkeypatch):
    import keyring

    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(memory_keyring())
    mail = Mail(address="ldld@example.vn", imap=Imap(host="imap.example.vn"), smtp=Smtp(host="smtp.example.vn"))
    yield dataclasses.replace(settings, mail=mail)
    keyring.set_keyring(previous)


def test_the_keyring_holds_the_password_and_smtp_shares_the_imap_one_unless_it_has_its_own(account):
    with pytest.raises(MailError, match="pipeline mail password"):
        password(account, account.mail.imap)
    where = save_password(account, account.mail.imap, "mật-khẩu-1")
    assert "sang-kien-pipeline/imap/imap.example.vn" in where
    assert password(account, account.mail.imap) == "mật-khẩu-1"
    assert password(account, account.mail.smtp) == "mật-khẩu-1"  # the same account
    save_password(account, account.mail.smtp, "mật-khẩu-2")
    assert password(account, account.mail.smtp) == "mật-khẩu-2"
    assert password(account, account.mail.imap) == "mật-khẩu-1"


def test_another_smtp_login_does_not_take_the_imap_password(account):
    save_password(account, account.mail.imap, "mật-khẩu-1")
    other = dataclasses.replace(account.mail.smtp, user="khac@example.vn")
    with pytest.raises(MailError, match=r"khac@example\.vn"):
        password(account, other)


def test_the_environment_wins_and_the_file_never_holds_it(account, monkeypatch):
    from pipeline.config import keys_of

    monkeypatch.setenv(ENV_PASSWORD, "từ-biến-môi-trường")
    assert password(account, account.mail.smtp) == "từ-biến-môi-trường"
    for cls in (Mail, Imap, Smtp):
        assert not [k.name for k in keys_of(cls) if "pass" in k.name or "secret" in k.name]
