# Vireo.  Quick start (Debian 12, as root):
#   make run     build, start libvirt and vireod, a local host and a demo VM
#   make check   build with ASan+UBSan and run the whole test suite
#   make stop    stop vireod (VMs keep running)
#   make bench   run the benchmarks in bench/ (not part of check)

BUILD      ?= build
CHECKBUILD ?= build-check

.PHONY: all deps build install run stop check unit e2e bench clean

all: build

deps:
	@tools/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized --prefix=/usr/local

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

install: build
	ninja -C $(BUILD) install >/dev/null

run: install
	@tools/run.sh

stop:
	@tools/stop.sh

$(CHECKBUILD)/build.ninja:
	meson setup $(CHECKBUILD) --buildtype=debug -Db_sanitize=address,undefined \
	  -Db_lundef=false

check: deps $(CHECKBUILD)/build.ninja
	ninja -C $(CHECKBUILD)
	meson test -C $(CHECKBUILD) --suite unit --print-errorlogs
	tests/e2e/run.sh $(CHECKBUILD)

unit: deps $(CHECKBUILD)/build.ninja
	ninja -C $(CHECKBUILD)
	meson test -C $(CHECKBUILD) --suite unit --print-errorlogs

e2e: deps $(CHECKBUILD)/build.ninja
	ninja -C $(CHECKBUILD)
	tests/e2e/run.sh $(CHECKBUILD)

bench: build
	bench/run-all.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(CHECKBUILD)
