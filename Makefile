# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.installed-base
TEST := $(VENV)/.installed-test
DEBIAN_PACKAGES := libreoffice-calc-nogui libreoffice-writer-nogui poppler-utils fonts-dejavu fonts-liberation2 chromium gnumeric dovecot-imapd
# Where Debian puts dovecot: not on the PATH of a user who is not root.
SBIN := /usr/sbin

.PHONY: demo test quick lint system-deps bench profile soak clean

$(BASE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST): $(BASE)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(BASE)
	$(BIN)/pipeline demo --out demo

# LibreOffice, poppler and Chromium are needed by the tests that open our files as a user would.
# The PDF's font: LibreOffice puts Liberation Serif in place of Times New Roman, and only version 2
# (fonts-liberation2; fonts-liberation is 1.07) has every Vietnamese letter, so fontconfig lists it
# for the language "vi"; a machine set up without it gets it too.
# Dovecot (dovecot-imapd) is the IMAP server that the mail tests start themselves on 127.0.0.1, with a
# configuration of their own (tests/servers.py); a machine set up before them gets it too. The
# service that the package starts on install, where policy-rc.d or systemd let it, is not used.
system-deps:
	@if command -v soffice >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1 && command -v ssconvert >/dev/null 2>&1 && { command -v dovecot || [ -x $(SBIN)/dovecot ]; } >/dev/null 2>&1 && fc-list -q 'Liberation Serif:lang=vi' 2>/dev/null; then :; \
	elif [ "$$(id -u)" = "0" ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES); \
	else \
		echo "Kiểm thử cần LibreOffice, Gnumeric, poppler-utils, Chromium, Dovecot (máy chủ IMAP mà kiểm thử tự chạy) và phông chữ Liberation Serif 2 (đủ chữ tiếng Việt, thay cho Times New Roman trong bản PDF). Cài bằng lệnh: sudo apt-get install $(DEBIAN_PACKAGES)"; exit 1; \
	fi

lint: $(TEST)
	$(BIN)/ruff check pipeline schemas tests bench
	$(BIN)/ruff format --check pipeline schemas tests bench
	$(BIN)/mypy pipeline schemas

# The suite on $(WORKERS) processes (pytest-xdist); tests that share an expensive module fixture
# stay together on one (pytest.mark.xdist_group). `make test WORKERS=0` runs it in this process.
WORKERS ?= 3
PYTEST := $(BIN)/pytest -n $(WORKERS) --dist loadgroup

test: $(TEST) system-deps lint
	$(PYTEST)

# For developers between changes: everything but the tests marked slow (pyproject.toml), no lint.
quick: $(TEST)
	$(PYTEST) -m "not slow"

# The provincial-scale benchmark (bench/README.md): `make bench`, or a smaller inbox with `make bench FILES=200`.
FILES ?= 2000
bench: $(BASE)
	$(BIN)/python -m bench.run --files $(FILES)

# Where a run's time goes, stage by stage, on one core (bench/profile.py): `make profile FILES=2000`.
profile: $(BASE)
	$(BIN)/python -m bench.profile --files $(FILES)

# The soak run (bench/soak.py): 1,000 good files with 50 hostile ones, against the good ones alone.
soak: $(BASE)
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) demo bench/.work .pytest_cache .mypy_cache .ruff_cache
