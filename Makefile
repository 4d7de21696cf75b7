# certbus - top-level build. `make`, `make check`, `make check SANITIZE=1`,
# `make demo`, `make bench`, `make fuzz`, `make soak`, `make install`.

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

PKGS := libzmq libczmq libprotobuf-c libsodium sqlite3

# Install missing Debian packages before anything asks pkg-config for flags.
ifeq ($(filter clean,$(MAKECMDGOALS)),)
DEPS_OK := $(shell pkg-config --exists $(PKGS) cmocka libmicrohttpd 2>/dev/null \
             && command -v protoc-c >/dev/null && command -v sqlite3 >/dev/null \
             && command -v python3 >/dev/null && echo yes)
ifneq ($(DEPS_OK),yes)
$(info certbus: dependencies missing; running deploy/deps.sh)
DEPS_RC := $(shell deploy/deps.sh >&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error deploy/deps.sh failed: install the packages it names, then run make again)
endif
endif
endif

CC ?= cc
OPT ?= -O2 -g
WARN := -Wall -Wextra -Wpedantic -Wstrict-prototypes -Werror
CPPFLAGS += -D_GNU_SOURCE -Iinclude -I$(BUILD)/gen
CFLAGS += -std=c11 $(OPT) $(SAN_FLAGS) -MMD -MP $(shell pkg-config --cflags $(PKGS))
LDLIBS += $(shell pkg-config --libs $(PKGS) libmicrohttpd) -lpthread -lm
LDFLAGS += $(SAN_FLAGS)

GEN_C := $(BUILD)/gen/proto/certbus.pb-c.c
GEN_H := $(BUILD)/gen/proto/certbus.pb-c.h
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/certbus.pb-c.o
BROKER_SRC := $(wildcard broker/*.c)
BROKER_OBJ := $(BROKER_SRC:%.c=$(BUILD)/obj/%.o)
NODE_SRC := $(wildcard node/*.c)
NODE_OBJ := $(NODE_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/%)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/obj/%.o)
ENGINE_OBJ := $(filter-out %/main.o,$(BROKER_OBJ) $(NODE_OBJ))

LIB := $(BUILD)/libcertbus.a
BROKER := $(BUILD)/certbus-broker
NODE := $(BUILD)/certbus-node

.PHONY: all check demo bench fuzz soak install uninstall clean tests
.DEFAULT_GOAL := all
# keep every object: tests share them
.SECONDARY:

all: $(LIB) $(BROKER) $(NODE)

$(GEN_C) $(GEN_H): proto/certbus.proto
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

$(BUILD)/tests/%: tests/unit/%.c $(TESTLIB_OBJ) $(ENGINE_OBJ) $(LIB) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ibroker -Inode -Itests/lib $(CFLAGS) $(WARN) -o $@ $< $(TESTLIB_OBJ) \
	    $(ENGINE_OBJ) $(LIB) $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tests/%: tests/integration/%.c $(TESTLIB_OBJ) $(ENGINE_OBJ) $(LIB) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ibroker -Inode -Itests/lib $(CFLAGS) $(WARN) -o $@ $< $(TESTLIB_OBJ) \
	    $(ENGINE_OBJ) $(LIB) $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs cmocka)

tests: all $(UNIT_BIN) $(INTEG_BIN)

# Every unit test binary and integration script, with one summary line.
check: tests
	@SANITIZE_BUILD=$(SANITIZE) tests/run.sh $(BUILD)

demo: all
	@KEEP=$(KEEP) deploy/demo.sh $(BUILD)

bench: all
	@mkdir -p $(BUILD)/bench
	@tests/bench/run.sh $(BUILD)

FUZZ_SECONDS ?= 60
fuzz:
	@deploy/deps.sh --with-fuzz
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

soak: all
	@tests/soak/run.sh $(BUILD)

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

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
