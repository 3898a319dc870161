# The README's commands. `make run`: the service for development; `make demo`: play the
# panel (`make demo language=en`); `make staff`: a link into the staff view; `make test`:
# the tests; `make screenshots`: the pictures in docs/screenshots/; `make translations`:
# the gettext catalogs after a text changed (docs/deployment.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CATALOGS := panel_addon/translations
# The compiled catalogs: built by the install (setup.py), rebuilt here when a .po changes.
MO := $(patsubst %.po,%.mo,$(wildcard $(CATALOGS)/*/LC_MESSAGES/messages.po))

.PHONY: run test lint demo staff screenshots install translations

# The demo client's language: make demo language=en
language ?= fr

$(BIN)/panel-addon: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/panel-addon $(MO)

$(MO): %.mo: %.po | $(BIN)/panel-addon
	$(BIN)/pybabel compile -i $< -o $@

# Every msgid of the code and templates (mails' .txt parts included) into the template,
# merged into each language's catalog; then translate the new entries and compile.
translations: $(BIN)/panel-addon
	$(BIN)/pybabel extract -F pyproject.toml
	$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --ignore-obsolete
	$(MAKE) install

run: install
	scripts/dev

demo: install
	scripts/dev demo $(language)

staff: install
	scripts/dev staff

# Every picture of docs/screenshots/: each client mail and page and the staff view at
# phone and desktop widths, FR and EN, and the dossier's PDF pages (scripts/screenshots).
screenshots: install
	scripts/services
	scripts/screenshots

test: install
	scripts/services --postgres
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
