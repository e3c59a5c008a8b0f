# Developer entry points. `make quickstart` and `make test` are the README's two commands.
R ?= R
RSCRIPT ?= Rscript
PKG_VERSION := $(shell sed -n 's/^Version: //p' DESCRIPTION)
TARBALL := scnym_$(PKG_VERSION).tar.gz
export NOT_CRAN = true
# Real data sets for the tests, vignettes and benchmarks that use them (skipped when absent).
export SCNYM_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: setup install document quickstart test test-rust test-r test-seurat5 build check bioccheck \
	lint clean bench-accuracy

setup:
	tools/setup.sh

install: setup
	$(R) CMD INSTALL --no-test-load .

document: install
	$(RSCRIPT) -e 'roxygen2::roxygenise(load_code = "source")'

quickstart: install
	$(RSCRIPT) inst/scripts/quickstart.R

test-rust: setup
	tools/cargo.sh test --release -p scnym-core

test-r: install
	$(RSCRIPT) tools/run-tests.R

# The Seurat tests once more against SeuratObject 5.3.0 + Matrix 1.6-5, built from $(SHARED_DEPS)
# into a private library cached by the tarballs' checksums (tools/seurat5-lib.sh), in a process
# that never loads Seurat (Debian's Seurat 4.3 does not work with SeuratObject 5). The other
# targets keep Debian's SeuratObject 4. `make test` runs it when $(SHARED_DEPS) is present.
SHARED_DEPS ?= $(abspath ../shared/deps)
SEURAT5_TESTS := seurat5|extract|train|annotate|discover|explain|validation|simulate|kang|bad-input
test-seurat5: install
	lib=$$(tools/seurat5-lib.sh $(SHARED_DEPS)) && \
	  R_LIBS="$$lib$${R_LIBS:+:$$R_LIBS}" SCNYM_EXPECT_SEURATOBJECT=5.3.0 \
	  $(RSCRIPT) tools/run-tests.R '$(SEURAT5_TESTS)'

build: install
	rm -rf $(TARBALL)
	$(R) CMD build .

check: build
	rm -rf scnym.Rcheck
	_R_CHECK_FORCE_SUGGESTS_=false $(R) CMD check --no-manual $(TARBALL)
	tools/check-log.sh scnym.Rcheck/00check.log

test: test-rust test-r $(if $(wildcard $(SHARED_DEPS)/SeuratObject_5.3.0.tar.gz),test-seurat5) check

# BiocCheck 1.34 on the tarball, offline (tools/bioccheck.R says which checks need the network and
# what it does instead); fails on any error or warning.
bioccheck: build
	rm -rf scnym.BiocCheck
	$(RSCRIPT) tools/bioccheck.R $(TARBALL)

lint: setup
	tools/cargo.sh fmt --all -- --check
	tools/cargo.sh clippy --release --all-targets -- -D warnings
	$(RSCRIPT) -e 'lints <- lintr::lint_dir("R"); print(lints); quit(status = length(lints) > 0)'

clean:
	rm -rf $(TARBALL) scnym.Rcheck scnym.BiocCheck src/*.o src/*.so src/Makevars

# Accuracy benchmark next to the peers (not part of `make test`; see bench/accuracy/README.md).
# Peers are cached (only missing predictions are computed); scANVI only with SCANVI=1.
SCNYM_BENCH_VENV ?= $(HOME)/.cache/scnym/bench-venv
export SCNYM_BENCH_VENV
comma := ,
bench-accuracy: install
	bench/accuracy/setup-peers.sh
	$(RSCRIPT) bench/accuracy/tasks.R
	$(RSCRIPT) bench/accuracy/peers_r.R
	$(SCNYM_BENCH_VENV)/bin/python bench/accuracy/peers_py.py --methods logreg,svm,celltypist$(if $(filter 1,$(SCANVI)),$(comma)scanvi)
	$(RSCRIPT) bench/accuracy/run_scnym.R
	$(RSCRIPT) bench/accuracy/summarise.R
