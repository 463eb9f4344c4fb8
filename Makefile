# bb: build, test, install.  See README.md.
#
# Tools are discovered: bin/bb-NAME.c (and sidecar/bb-NAME.c) each build
# the program bin/bb-NAME; every lib/*.c goes into lib/libbb.a.  Adding a
# tool or a lib module needs no edit here.

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
SHAREDIR ?= $(PREFIX)/share/bb

CC       ?= cc
CLANG    ?= clang
PKGS      = jansson yaml-0.1 openssl libcurl libevent libevent_openssl

WARN      = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wvla -Wno-unused-parameter \
            -Wpointer-arith -Wcast-qual -Wnull-dereference -Wno-format-truncation
CSTD      = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -D_GNU_SOURCE
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS   ?= -O2 -g
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) $(PKG_CFLAGS) -Ilib \
             -DBB_SHAREDIR='"$(SHAREDIR)"'
LDLIBS    = -Wl,--as-needed $(PKG_LIBS) -lhttp_parser

ifeq ($(SANITIZE),1)
  MODE        = san
  ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=all
  LDFLAGS    += -fsanitize=address,undefined
else
  MODE        = rel
endif
BUILD     = .build/$(MODE)

LIB_SRC   = $(wildcard lib/*.c)
LIB_OBJ   = $(patsubst lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRC))
LIB_A     = $(BUILD)/libbb.a
TOOL_SRC  = $(wildcard bin/bb-*.c sidecar/bb-*.c)
TOOLS     = $(addprefix bin/,$(notdir $(TOOL_SRC:.c=)))
SCRIPTS   = $(filter-out %.c $(TOOLS),$(wildcard bin/bb-*))
MANPAGES  = $(wildcard man/*.[1-8])
FUZZ_SRC  = $(wildcard t/fuzz/fuzz-*.c)
FUZZERS   = $(patsubst t/fuzz/%.c,.build/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 20

.PHONY: all check deps install demo clean lint-man fuzz fuzz-run bench
all: $(TOOLS)

# Binaries land in bin/ whatever the mode, so relink when the mode changes.
.build/mode-$(MODE):
	@mkdir -p .build && rm -f .build/mode-* && touch $@

$(BUILD)/lib/%.o: lib/%.c $(wildcard lib/*.h) .build/mode-$(MODE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tool/%.o: bin/%.c $(wildcard lib/*.h) .build/mode-$(MODE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tool/%.o: sidecar/%.c $(wildcard lib/*.h) .build/mode-$(MODE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(TOOLS): bin/%: $(BUILD)/tool/%.o $(LIB_A)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

# The bats suite.  BB_ROOT lets t/helper.bash find bin/ and share/.
check: all
	BB_ROOT=$(CURDIR) bats --formatter pretty t/

lint-man:
	mandoc -Tlint -W warning $(MANPAGES)

# libFuzzer targets: each t/fuzz/fuzz-NAME.c with its corpus t/fuzz/NAME/.
.build/fuzz/%: t/fuzz/%.c $(LIB_SRC) $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) -O1 -g -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) \
	  -Ilib -DBB_SHAREDIR='"$(SHAREDIR)"' -o $@ $< $(LIB_SRC) $(LDLIBS)

fuzz: $(FUZZERS)

fuzz-run: $(FUZZERS)
	@set -e; for f in $(FUZZERS); do \
	  n=$$(basename $$f); c=t/fuzz/$${n#fuzz-}; mkdir -p $$c .build/fuzz/$$n.corpus; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=0 .build/fuzz/$$n.corpus $$c 2>.build/fuzz/$$n.log \
	    || { tail -50 .build/fuzz/$$n.log; exit 1; }; \
	done

demo: all
	BB_ROOT=$(CURDIR) sh share/examples/demo.sh

bench: all
	@for b in t/bench/*.sh; do sh $$b; done

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SHAREDIR)
	install -m 0755 $(TOOLS) $(SCRIPTS) $(DESTDIR)$(BINDIR)
	for p in $(MANPAGES); do s=$${p##*.}; \
	  install -d $(DESTDIR)$(MANDIR)/man$$s; \
	  install -m 0644 $$p $(DESTDIR)$(MANDIR)/man$$s/; done
	cp -R share/. $(DESTDIR)$(SHAREDIR)/

clean:
	rm -rf .build $(TOOLS)

# Debian packages: build, runtime, and what the tests and benchmarks use.
# One per line so that concurrent additions merge cleanly.
DEPS = \
	bats \
	bats-assert \
	bats-support \
	bsdextrautils \
	bubblewrap \
	ca-certificates \
	catatonit \
	clang \
	curl \
	docker.io \
	gcc \
	git \
	iproute2 \
	jq \
	libclang-rt-14-dev \
	libcurl4-openssl-dev \
	libevent-dev \
	libhttp-parser-dev \
	libjansson-dev \
	libssl-dev \
	libyaml-dev \
	make \
	mandoc \
	mitmproxy \
	nginx-light \
	nodejs \
	openssh-client \
	openssh-server \
	openssl \
	pkg-config \
	podman \
	procps \
	python3 \
	runc \
	slirp4netns \
	socat \
	uidmap \
	wrk

deps:
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEPS)
