# The two commands a newcomer runs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test install firmware guests gen bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

guests: $(STAMP)
	$(PY) -m armvirt.build guests

firmware: $(STAMP)
	$(PY) -m armvirt.build firmware

## make run: boot the demo guest under the hypervisor (the firmware is assembled on first use)
run: $(STAMP) guests
	$(VENV)/bin/armvirt run build/guests/hello.elf

## make test: the whole test suite (optional cross-checks skip when qemu/gdb are absent)
test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

## make gen: regenerate committed generated files (decoder, layout, the firmware's ABI include)
gen: $(STAMP)
	$(PY) -m armvirt.isa.gen_decoder
	$(PY) -m armvirt.gen_layout
	$(PY) -m armvirt.hv.gen_abi

bench: $(STAMP) guests
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.hv

clean:
	rm -rf build .pytest_cache
