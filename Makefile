.PHONY: install lint typecheck imports test test-fast bench ci

install:
	python3 -m pip install -e '.[test]'

lint:
	ruff check .
	ruff format --check .

typecheck:
	mypy

imports:
	lint-imports

test:
	python3 -m pytest

test-fast:
	python3 -m pytest -m "not slow"

bench:
	python3 bench/run.py

ci:
	bash .ci/run
