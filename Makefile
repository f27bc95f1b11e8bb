# Vireo.  Quick start (Debian 12, as root):
#   make run     build, start libvirt and vireod, a local host and a demo VM
#   make check   build with ASan+UBSan and run the whole test suite
#   make fuzz    run the libFuzzer harnesses (tests/fuzz) for FUZZ_SECONDS each
#   make stop    stop vireod (VMs keep running)
#   make bench   run the benchmarks in bench/ (not part of check)

BUILD        ?= build
CHECKBUILD   ?= build-check
FUZZBUILD    ?= build-fuzz
FUZZ_SECONDS ?= 20

.PHONY: all deps build install run stop check unit e2e fuzz bench clean

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

# The fuzz build is clang's, in a directory of its own (tests/fuzz/README.md).
$(FUZZBUILD)/build.ninja:
	CC=clang meson setup $(FUZZBUILD) --buildtype=debug -Dfuzz=true \
	  -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false

check: deps $(CHECKBUILD)/build.ninja $(FUZZBUILD)/build.ninja
	ninja -C $(CHECKBUILD)
	meson test -C $(CHECKBUILD) --suite unit --print-errorlogs
	ninja -C $(FUZZBUILD)
	tests/fuzz/run.sh $(FUZZBUILD) $(FUZZ_SECONDS)
	tests/e2e/run.sh $(CHECKBUILD)

unit: deps $(CHECKBUILD)/build.ninja
	ninja -C $(CHECKBUILD)
	meson test -C $(CHECKBUILD) --suite unit --print-errorlogs

e2e: deps $(CHECKBUILD)/build.ninja
	ninja -C $(CHECKBUILD)
	tests/e2e/run.sh $(CHECKBUILD)

fuzz: deps $(FUZZBUILD)/build.ninja
	ninja -C $(FUZZBUILD)
	tests/fuzz/run.sh $(FUZZBUILD) $(FUZZ_SECONDS)

bench: build
	bench/run-all.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(CHECKBUILD) $(FUZZBUILD)
