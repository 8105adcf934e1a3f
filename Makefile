# finstream - one plain Makefile.
#
#   make            build every tool into $(B)/bin (B=build by default)
#   make check      install missing packages, build, run every test;
#                   last line "N passed, N failed"
#   make check SAN=1  the same under ASan+UBSan (in build-san/)
#   make demo       install missing packages, build, run the fraud pipeline
#   make bench      benchmarks under bench/, results in bench/results/
#   make fuzz       run each libFuzzer harness for FUZZ_SECONDS (clang)
#   make deps       install the Debian packages the build and tests need
#   make install    PREFIX=/usr/local
#   make help       this text
#   make clean      remove the build directories
#   CUDA=auto|0|1   build fs-score-gpu's CUDA path when nvcc is found
#
# deps, demo, check, help and clean work on a machine with nothing but
# make installed: they probe no library while the Makefile is read, and
# demo and check install the packages (scripts/install-deps) before they
# build, in a second make that then finds them.

CC ?= cc
ifeq ($(origin CC),default)
CC = cc
endif
SAN ?= 0
CUDA ?= auto
PREFIX ?= /usr/local
NVCC ?= $(shell command -v nvcc 2>/dev/null || \
	  { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })

ifeq ($(SAN),1)
B ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
else
B ?= build
SANFLAGS =
endif

OPT ?= -O2
CFLAGS ?= $(OPT) -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Ilibcommon \
	  -pthread $(SANFLAGS)
LDFLAGS += -pthread -Wl,--as-needed $(SANFLAGS)

# Goals that must run before the libraries are installed: no probing.
NOPROBE_GOALS = deps demo check help clean
ifneq ($(filter-out $(NOPROBE_GOALS),$(or $(MAKECMDGOALS),all)),)
PROBE = 1
endif

ifeq ($(PROBE),1)
# Libraries through pkg-config; a missing one names its Debian package.
define need_pkg
$(if $(shell pkg-config --exists $(1) && echo y),,\
  $(error pkg-config cannot find $(1): install the Debian package $(2) \
	  (or run 'make deps')))
endef
$(call need_pkg,libarchive,libarchive-dev)
$(call need_pkg,libcjson,libcjson-dev)
$(call need_pkg,libcrypto,libssl-dev)
$(call need_pkg,sqlite3,libsqlite3-dev)
$(call need_pkg,rdkafka,librdkafka-dev)
$(call need_pkg,zlib,zlib1g-dev)
$(call need_pkg,liblzma,liblzma-dev)
$(call need_pkg,libzstd,libzstd-dev)
$(call need_pkg,double-conversion,libdouble-conversion-dev)

PKGS = libarchive libcjson libcrypto sqlite3 rdkafka zlib liblzma libzstd \
       double-conversion
CFLAGS += $(shell pkg-config --cflags $(PKGS))
LIBS = $(shell pkg-config --libs $(PKGS)) -lm

# CUDA probe: auto builds the .cu path when nvcc and its runtime library
# are found (scripts/cuda-probe asks nvcc where its toolkit lives).
CUDA_LIBDIR := $(if $(NVCC),$(shell scripts/cuda-probe $(NVCC)))
ifeq ($(CUDA),auto)
HAVE_CUDA := $(if $(CUDA_LIBDIR),1,0)
else
HAVE_CUDA := $(CUDA)
endif
ifeq ($(HAVE_CUDA),1)
ifeq ($(NVCC),)
$(error CUDA=1 but nvcc was not found)
endif
ifeq ($(CUDA_LIBDIR),)
$(error CUDA=1 but libcudart_static.a was not found beside $(NVCC))
endif
CFLAGS += -DFS_HAVE_CUDA=1
CUDA_LIBS = -L$(CUDA_LIBDIR) -lcudart_static -ldl -lrt
NVCCFLAGS ?= -O3 -std=c++17 -arch=sm_90 -Xcompiler -fPIC,-Wall -Ilibcommon
endif
CUDA_WHY := $(if $(filter 0,$(CUDA)),CUDA=0,$(if $(NVCC),nvcc found but no libcudart_static.a,no nvcc))
$(info finstream: CUDA=$(if $(filter 1,$(HAVE_CUDA)),yes ($(NVCC); libcudart in $(CUDA_LIBDIR)),no ($(CUDA_WHY))))
endif

LIB_SRC = $(wildcard libcommon/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(B)/%.o)

# A tool is tools/fs-NAME.c, or a folder tools/NAME/ of .c files (and
# an optional .cu, linked when CUDA is built).
SIMPLE_TOOLS = $(patsubst tools/%.c,%,$(wildcard tools/fs-*.c))
DIR_TOOLS = $(patsubst tools/%/,fs-%,$(filter %/,$(wildcard tools/*/)))
TOOLS = $(SIMPLE_TOOLS) $(DIR_TOOLS)
BINS = $(TOOLS:%=$(B)/bin/%)

all: $(BINS)

$(B)/libfs.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(B)/%.o: %.c $(wildcard libcommon/*.h) $(wildcard tools/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/%.cu.o: %.cu $(wildcard tools/*/*.h tools/*/*.cuh)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c -o $@ $<

$(B)/bin/fs-%: $(B)/tools/fs-%.o $(B)/libfs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Folder tools: tools/NAME/*.c (+ *.cu with CUDA).
define dir_tool
$(B)/bin/fs-$(1): $(patsubst %.c,$(B)/%.o,$(wildcard tools/$(1)/*.c)) \
	$(if $(filter 1,$(HAVE_CUDA)),$(patsubst %.cu,$(B)/%.cu.o,$(wildcard tools/$(1)/*.cu))) \
	$(B)/libfs.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS) $(if $(filter 1,$(HAVE_CUDA)),$(if $(wildcard tools/$(1)/*.cu),$$(CUDA_LIBS) -lstdc++))
endef
$(foreach t,$(DIR_TOOLS:fs-%=%),$(eval $(call dir_tool,$(t))))
# fs-join reads CSV tables with fs-ingest's own CSV splitter.
$(B)/bin/fs-join: $(B)/tools/ingest/csv.o

# Unit tests (cmocka) for libcommon.
UNIT_SRC = $(wildcard tests/unit/test-*.c)
UNIT_BINS = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
$(B)/tests/%: tests/unit/%.c $(B)/libfs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# Test drivers: tests/unit/NAME.c without the test- prefix, built by
# the test rules (above) for the bats files, never installed.
TEST_TOOLS = $(B)/tests/pii-tool
test-tools: $(TEST_TOOLS)

# Kernel emulation tests: tests/unit/test-*.cpp compile fs-score-gpu's
# CUDA kernels (score_kernels.cuh) with $(CXX) and run them on host
# threads against the CPU kernel; no nvcc or GPU needed.  Without a C++
# compiler the test is a script that reports a TAP skip.
EMU_SRC = $(wildcard tests/unit/test-*.cpp)
EMU_BINS = $(EMU_SRC:tests/unit/%.cpp=$(B)/tests/%)
EMU_OBJ = $(patsubst %.c,$(B)/%.o,$(wildcard tools/score-gpu/model*.c \
	  tools/score-gpu/forest*.c))
HAVE_CXX := $(if $(shell command -v $(CXX) 2>/dev/null),1,0)
$(B)/tests/%: tests/unit/%.cpp $(wildcard tools/score-gpu/*.h \
	tools/score-gpu/*.cuh) $(EMU_OBJ) $(B)/libfs.a
	@mkdir -p $(dir $@)
ifeq ($(HAVE_CXX),1)
	$(CXX) -std=c++20 $(OPT) -g -Wall -Wextra -Werror -ffp-contract=off \
	  -pthread -Ilibcommon -Itools/score-gpu $(SANFLAGS) $(LDFLAGS) \
	  -o $@ $(filter-out %.h %.cuh,$^) $(LIBS)
else
	printf '#!/bin/sh\necho 1..1\necho "ok 1 - $* # SKIP no C++ compiler ($(CXX))"\n' >$@
	chmod +x $@
endif

# check and demo: packages first, then a make that probes and builds.
check: deps
	@$(MAKE) --no-print-directory check-run

check-run: all $(UNIT_BINS) $(EMU_BINS) $(TEST_TOOLS)
	@B=$(B) SAN=$(SAN) tests/run

demo: deps
	@$(MAKE) --no-print-directory demo-run

demo-run: all
	@B=$(B) scripts/demo

help:
	@sed -n '1,/^$$/s/^# \{0,1\}//p' Makefile

bench: all $(TEST_TOOLS)
	@B=$(B) bench/run

deps:
	@scripts/install-deps

style:
	clang-format --dry-run --Werror libcommon/*.[ch] tools/*.c tools/*/*.[ch]

FUZZ_SECONDS ?= 20
FUZZ_SRC = $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BINS = $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
build-fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(LIB_SRC) $(wildcard tools/*/*.c tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Ilibcommon -Itools \
	  $(shell pkg-config --cflags $(PKGS)) \
	  -fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_SRC) \
	  $(shell sed -n 's|^// FUZZ_SOURCES: ||p' $<) $(LIBS)
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	  echo "fuzz: $$f for $(FUZZ_SECONDS)s"; \
	  mkdir -p build-fuzz/corpus-$${f##*/}; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    build-fuzz/corpus-$${f##*/} tests/fuzz/seeds/$${f##*/fuzz-} \
	    2>build-fuzz/$${f##*/}.log || { tail -30 build-fuzz/$${f##*/}.log; exit 1; }; \
	done; echo "fuzz: all harnesses ran clean"

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 644 man/*.7 $(DESTDIR)$(PREFIX)/share/man/man7

clean:
	rm -rf build build-san build-fuzz build-cpu

.PHONY: all test-tools check check-run demo demo-run bench deps help style fuzz \
	install clean
.SECONDARY:

# libdouble-conversion (C++, Debian libdouble-conversion-dev) prints
# floats, behind libcommon/dconv.cc's C API.  The shim takes the C build's
# sanitizers, from the C++ compiler of the C compiler's family (clang's
# ASan runtime does not take gcc's objects); its UBSan leaves out vptr,
# whose runtime only a C++ link brings.  The tools link libstdc++.
SHIM_CXX ?= $(if $(findstring clang,$(CC)),$(subst clang,clang++,$(CC)),$(CXX))
SHIM_SRC = $(wildcard libcommon/*.cc)
SHIM_FLAGS = -std=c++17 -Wall -Wextra -Werror -Ilibcommon \
	$(shell pkg-config --cflags double-conversion)
LIBS += -lstdc++
$(B)/libfs.a: $(SHIM_SRC:%.cc=$(B)/%.o)
$(B)/libcommon/fmtfloat.o: libcommon/dconv.h
$(B)/%.o: %.cc libcommon/dconv.h
	@mkdir -p $(dir $@)
	$(SHIM_CXX) $(OPT) -g $(SHIM_FLAGS) $(SANFLAGS) \
	  $(if $(SANFLAGS),-fno-sanitize=vptr) -c -o $@ $<
# Fuzz harnesses compile libcommon's C sources themselves; they link the
# shim built for them.
$(FUZZ_BINS): $(SHIM_SRC:%.cc=build-fuzz/%.o)
$(FUZZ_BINS): LIBS += $(SHIM_SRC:%.cc=build-fuzz/%.o)
build-fuzz/%.o: %.cc libcommon/dconv.h
	@mkdir -p $(dir $@)
	clang++ -g -O1 $(SHIM_FLAGS) -fsanitize=fuzzer-no-link,address,undefined \
	  -fno-sanitize=vptr -c -o $@ $<
