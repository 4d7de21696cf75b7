# certbus - top-level build. `make`, `make check`, `make check SANITIZE=1`,
# `make demo`, `make bench`, `make fuzz`, `make soak`, `make install`.
# `make deps` installs missing packages (check, demo and fuzz run it first);
# `make tests`, `make tools`, `make bench-bin` and `make fuzz-bin` only build;
# `make format` and `make format-check` run clang-format.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
SYSCONFDIR ?= /etc
DESTDIR ?=

SANITIZE ?= 0
KEEP ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS :=
endif

PKGS := libzmq libczmq libprotobuf-c libsodium sqlite3 libpq libmicrohttpd jansson
TEST_PKGS := cmocka
DEP_COMMANDS := protoc-c sqlite3 python3 psql pg_dump

# Parsing this Makefile installs nothing. `make deps` installs what is
# missing (deploy/deps.sh); `make check` and `make demo` run it first and
# then a recursive make of the real work, so that pkg-config answers after
# the install. Every other goal that compiles stops here with the list of
# what is missing.
DEPS_MISSING := $(shell for p in $(PKGS) $(TEST_PKGS); do \
                    pkg-config --exists $$p 2>/dev/null || printf '%s ' $$p; done; \
                  for c in pkg-config $(DEP_COMMANDS); do \
                    command -v $$c >/dev/null 2>&1 || printf '%s ' $$c; done)
NO_DEPS_GOALS := deps clean check demo fuzz format format-check uninstall
ifneq ($(strip $(DEPS_MISSING)),)
ifneq ($(filter-out $(NO_DEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
$(error certbus: missing $(strip $(DEPS_MISSING)); run `make deps` (or deploy/deps.sh) first)
endif
endif

CC ?= cc
OPT ?= -O2 -g
WARN := -Wall -Wextra -Wpedantic -Wstrict-prototypes -Werror
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += -D_GNU_SOURCE -Iinclude -I$(BUILD)/gen
CFLAGS += -std=c11 $(OPT) $(SAN_FLAGS) -MMD -MP $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread -lm
LDFLAGS += $(SAN_FLAGS)

GEN_C := $(BUILD)/gen/proto/certbus.pb-c.c
GEN_H := $(BUILD)/gen/proto/certbus.pb-c.h
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/certbus.pb-c.o
BROKER_SRC := $(wildcard broker/*.c)
BROKER_OBJ := $(BROKER_SRC:%.c=$(BUILD)/obj/%.o)
NODE_SRC := $(wildcard node/*.c)
NODE_OBJ := $(NODE_SRC:%.c=$(BUILD)/obj/%.o)
ENGINE_OBJ := $(filter-out %/main.o,$(BROKER_OBJ) $(NODE_OBJ))

LIB := $(BUILD)/libcertbus.a
BROKER := $(BUILD)/certbus-broker
NODE := $(BUILD)/certbus-node

.PHONY: all deps check check-run demo demo-run bench bench-bin fuzz fuzz-bin fuzz-probe soak tools \
        format format-check install uninstall clean tests
.DEFAULT_GOAL := all
# keep every object: tests share them
.SECONDARY:

all: $(LIB) $(BROKER) $(NODE)

# Installs the Debian packages the build and the tests use, only when one of
# them is missing (deploy/deps.sh checks each package again).
# The PostgreSQL server the store tests start is not on PATH: look for initdb
deps:
	@if [ -n "$(strip $(DEPS_MISSING))" ] || ! command -v $(CLANG_FORMAT) >/dev/null 2>&1 \
	    || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; \
	then deploy/deps.sh; fi

# One protoc-c run writes both files (a grouped target: without it make may
# run it once per file, and the second run leaves objects older than the header)
$(GEN_C) $(GEN_H) &: proto/certbus.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen $<

# The default policy is compiled into certbus-broker, so that `init` can
# write it into a new broker folder.
$(BUILD)/gen/default_policy.h: deploy/policy.zpl
	@mkdir -p $(dir $@)
	{ echo 'static const unsigned char s_default_policy [] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0x00};'; } > $@

$(BUILD)/obj/broker/council.o: $(BUILD)/gen/default_policy.h

$(BUILD)/obj/gen/certbus.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c11 $(OPT) $(SAN_FLAGS) -Wall -Werror -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BROKER): $(BROKER_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(BROKER_OBJ) $(LIB) $(LDLIBS)

$(NODE): $(NODE_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(NODE_OBJ) $(LIB) $(LDLIBS)

# ---------------------------------------------------------------------------
# Tests: tests/unit/test_*.c and tests/integration/test_*.c, one binary each
# in $(BUILD)/tests/, linked with tests/lib (as an archive, so a test pulls
# only the helpers it calls) and libcertbus.a.
#
# Objects of broker/ and node/ that a test links: a unit test links only the
# ones it tests, listed as test_NAME_OBJ (paths under $(BUILD)/obj); an
# integration test links every engine object unless it lists its own. The
# groups below name a module's files; when a file is split, extend its group
# and the tests that use it follow.

# objs FILE...: the objects of those sources that exist (a group can name a
# file before it is split out, and picks it up once it is)
objs = $(patsubst %.c,%.o,$(wildcard $(1)))

broker_store_OBJ := $(call objs,broker/store.c broker/store_*.c broker/digest.c broker/tree.c)
broker_council_OBJ := broker/council.o broker/conf.o broker/control.o $(broker_store_OBJ)
broker_metrics_OBJ := $(call objs,broker/metrics.c)
node_store_OBJ := $(call objs,node/store.c node/store_*.c)

test_council_OBJ := $(broker_council_OBJ)
test_metrics_OBJ := $(broker_metrics_OBJ)
test_broker_store_OBJ := $(broker_store_OBJ)
test_node_store_OBJ := $(node_store_OBJ)

# test_policy decides with the policy compiled into certbus-broker
$(BUILD)/tests/test_policy: $(BUILD)/gen/default_policy.h

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/%)
INTEG_NAMES := $(INTEG_SRC:tests/integration/%.c=%)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/obj/%.o)
TESTLIB := $(BUILD)/libtestutil.a
TEST_CPPFLAGS := $(CPPFLAGS) -Ibroker -Inode -Itests/lib
TEST_LIBS := $(LDLIBS) $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

# test_obj NAME: the broker and node objects that test NAME links
test_obj = $(if $(filter undefined,$(origin $(1)_OBJ)), \
    $(if $(filter $(1),$(INTEG_NAMES)),$(ENGINE_OBJ)), $(addprefix $(BUILD)/obj/,$($(1)_OBJ)))

$(TESTLIB): $(TESTLIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

vpath test_%.c tests/unit tests/integration
.SECONDEXPANSION:
$(BUILD)/tests/%: %.c $$(call test_obj,$$*) $(TESTLIB) $(LIB) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(call test_obj,$*) $(TESTLIB) $(LIB) \
	    $(LDFLAGS) $(TEST_LIBS)

# Helper programs the integration scripts run (from $(BUILD)/tools/), and the
# fuzz seed writer (run by hand: $(BUILD)/tools/make_seeds tests/fuzz/corpus).
TOOL_BIN := $(BUILD)/tools/curve_stranger $(BUILD)/tools/db_digest $(BUILD)/tools/make_seeds \
            $(BUILD)/tools/store_pg_faults $(BUILD)/tools/store_pg_lease \
            $(BUILD)/tools/store_pg_restart $(BUILD)/tools/heads_consistent

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(LDFLAGS) $(LDLIBS)

# store_pg_faults, _lease, _restart and heads_consistent drive the store through store.h
# (tests/integration/store_pg.sh)
STORE_TOOL_OBJ := $(addprefix $(BUILD)/obj/,$(broker_store_OBJ)) $(BUILD)/obj/tests/tools/pgtool.o
$(BUILD)/obj/tests/tools/pgtool.o: CPPFLAGS += -Ibroker
$(BUILD)/tools/store_pg_faults $(BUILD)/tools/store_pg_lease $(BUILD)/tools/store_pg_restart \
$(BUILD)/tools/heads_consistent: \
    $(BUILD)/tools/%: tests/tools/%.c $(STORE_TOOL_OBJ) $(LIB) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ibroker -Itests/tools $(CFLAGS) $(WARN) -o $@ $< $(STORE_TOOL_OBJ) $(LIB) \
	    $(LDFLAGS) $(LDLIBS)

$(BUILD)/tools/make_seeds: $(BUILD)/obj/tests/fuzz/make_seeds.o $(BUILD)/obj/tests/fuzz/fixture.o \
                           $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tools: $(TOOL_BIN)

tests: all $(UNIT_BIN) $(INTEG_BIN) $(TOOL_BIN)

# clang-format over our sources: .c files with .clang-format, headers with
# .clang-format-headers. `format-check` lists the files that differ.
# `make check` runs format-check as one of its tests (tests/integration/format.sh).
CLANG_FORMAT ?= clang-format
FORMAT_DIRS := lib broker node include tests

format:
	@for f in $$(find $(FORMAT_DIRS) -name '*.[ch]' | sort); do \
	    case $$f in *.h) style=.clang-format-headers ;; *) style=.clang-format ;; esac; \
	    $(CLANG_FORMAT) --style=file:$$style -i "$$f" || exit 1; done

format-check:
	@command -v $(CLANG_FORMAT) >/dev/null 2>&1 \
	    || { echo "format-check: $(CLANG_FORMAT) not found (run make deps)"; exit 2; }
	@bad=0; for f in $$(find $(FORMAT_DIRS) -name '*.[ch]' | sort); do \
	    case $$f in *.h) style=.clang-format-headers ;; *) style=.clang-format ;; esac; \
	    if ! $(CLANG_FORMAT) --style=file:$$style --dry-run --Werror "$$f" >/dev/null 2>&1; then \
	        [ $$bad = 0 ] && echo "format-check: these files differ from .clang-format" \
	            "(make format fixes them):"; \
	        echo "    $$f"; bad=$$((bad + 1)); fi; done; \
	[ $$bad = 0 ] || { echo "format-check: $$bad files differ"; exit 1; }

# Every unit test binary and integration script, with one summary line.
# Installs missing packages first, then runs the work in a new make so that
# pkg-config is asked after the install.
check:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory check-run

check-run: tests
	@SANITIZE_BUILD=$(SANITIZE) tests/run.sh $(BUILD)

demo:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory demo-run

demo-run: all
	@KEEP=$(KEEP) deploy/demo.sh $(BUILD)

# ---------------------------------------------------------------------------
# Bench programs, in $(BUILD)/bench/bin/; bench_mqtt only where libmosquitto
# is installed.

BENCH_DIR := $(BUILD)/bench/bin
BENCH_BIN := $(addprefix $(BENCH_DIR)/,bench_relay bench_e2e bench_fanout bench_backlog bench_audit)
BENCH_COMMON := $(BUILD)/obj/tests/bench/bench_common.o

$(BENCH_DIR)/bench_mqtt: LDLIBS += $(shell pkg-config --libs libmosquitto 2>/dev/null)
$(BENCH_DIR)/%: tests/bench/%.c $(BENCH_COMMON) $(ENGINE_OBJ) $(LIB) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ibroker -Inode $(CFLAGS) $(WARN) -o $@ $< $(BENCH_COMMON) $(ENGINE_OBJ) \
	    $(LIB) $(LDFLAGS) $(LDLIBS)

$(BENCH_COMMON): CPPFLAGS += -Ibroker -Inode

# `make tests` builds the bench programs too (it does not run them), so that
# a change that breaks them fails `make check`.
tests: $(BENCH_BIN)

bench-bin: all $(BENCH_BIN)
	@if pkg-config --exists libmosquitto 2>/dev/null; then \
	    $(MAKE) --no-print-directory $(BENCH_DIR)/bench_mqtt; fi

bench: bench-bin
	@tests/bench/run.sh $(BUILD)

# ---------------------------------------------------------------------------
# libFuzzer harnesses, built with clang, ASan and UBSan into build/fuzz/
# (nothing shared with the gcc build). `make fuzz` installs clang first.

FUZZ_CC ?= clang
FUZZ := build/fuzz
FUZZ_GEN_C := $(FUZZ)/gen/proto/certbus.pb-c.c
FUZZ_GEN_H := $(FUZZ)/gen/proto/certbus.pb-c.h
FUZZ_COMMON := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
    -fno-sanitize-recover=undefined -Iinclude -I$(FUZZ)/gen $(PKG_CFLAGS) -MMD -MP
FUZZ_LIB_OBJ := $(LIB_SRC:lib/%.c=$(FUZZ)/obj/lib/%.o) $(FUZZ)/obj/lib/certbus.pb-c.o
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ)/bin/%)
FUZZ_SECONDS ?= 60

$(FUZZ_GEN_C) $(FUZZ_GEN_H) &: proto/certbus.proto
	@mkdir -p $(FUZZ)/gen
	protoc-c --c_out=$(FUZZ)/gen $<

$(FUZZ)/obj/lib/certbus.pb-c.o: $(FUZZ_GEN_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=address,undefined,fuzzer-no-link $(FUZZ_COMMON) -c $< -o $@

$(FUZZ)/obj/lib/%.o: lib/%.c $(FUZZ_GEN_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=address,undefined,fuzzer-no-link $(FUZZ_COMMON) -c $< -o $@

$(FUZZ)/obj/fixture.o: tests/fuzz/fixture.c $(FUZZ_GEN_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=address,undefined,fuzzer-no-link $(FUZZ_COMMON) -Wall -Wextra -Werror \
	    -c $< -o $@

$(FUZZ)/obj/fuzz_%.o: tests/fuzz/fuzz_%.c $(FUZZ_GEN_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $(FUZZ_COMMON) -Wall -Wextra -Werror \
	    -c $< -o $@

$(FUZZ)/bin/%: $(FUZZ)/obj/%.o $(FUZZ)/obj/fixture.o $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS) -lpthread -lm

# A one-line fuzzer: builds only where clang has a libFuzzer runtime
# (tests/fuzz/run.sh skips the fuzzing when it does not)
fuzz-probe:
	@mkdir -p $(FUZZ)
	@printf 'int LLVMFuzzerTestOneInput (const unsigned char *d, unsigned long n);\n%s\n' \
	    'int LLVMFuzzerTestOneInput (const unsigned char *d, unsigned long n) { return d && n == 7; }' \
	    > $(FUZZ)/probe.c
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $(FUZZ)/probe.c -o $(FUZZ)/probe

fuzz-bin: $(FUZZ_BIN)

fuzz:
	@deploy/deps.sh --with-fuzz
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

soak: all $(TOOL_BIN)
	@$(MAKE) --no-print-directory deps
	@tests/soak/run.sh $(BUILD)
	@tests/soak/pair.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/certbus \
	    $(DESTDIR)$(INCLUDEDIR)/certbus/proto
	install -m 0755 $(BROKER) $(NODE) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(LIB) $(DESTDIR)$(LIBDIR)/
	install -m 0644 include/certbus.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 0644 include/certbus/*.h $(DESTDIR)$(INCLUDEDIR)/certbus/
	install -m 0644 $(GEN_H) $(DESTDIR)$(INCLUDEDIR)/certbus/proto/
	if [ -d deploy/systemd ]; then \
	    install -d $(DESTDIR)$(PREFIX)/lib/systemd/system; \
	    install -m 0644 deploy/systemd/*.service $(DESTDIR)$(PREFIX)/lib/systemd/system/; \
	    install -d $(DESTDIR)$(PREFIX)/lib/sysusers.d; \
	    install -m 0644 deploy/systemd/sysusers-certbus.conf \
	        $(DESTDIR)$(PREFIX)/lib/sysusers.d/certbus.conf; fi
	if [ -f deploy/policy.zpl ]; then \
	    install -d $(DESTDIR)$(SYSCONFDIR)/certbus; \
	    install -m 0644 deploy/policy.zpl $(DESTDIR)$(SYSCONFDIR)/certbus/policy.zpl; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/certbus-broker $(DESTDIR)$(BINDIR)/certbus-node
	rm -f $(DESTDIR)$(LIBDIR)/libcertbus.a $(DESTDIR)$(INCLUDEDIR)/certbus.h
	rm -rf $(DESTDIR)$(INCLUDEDIR)/certbus

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/tests $(BUILD)/tools $(BENCH_DIR) $(FUZZ)/obj -name '*.d' 2>/dev/null)
