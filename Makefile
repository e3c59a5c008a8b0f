# Developer entry points. `make quickstart` and `make test` are the README's two commands.
R ?= R
RSCRIPT ?= Rscript
PKG_VERSION := $(shell sed -n 's/^Version: //p' DESCRIPTION)
TARBALL := scnym_$(PKG_VERSION).tar.gz
export NOT_CRAN = true
# Real data sets for the tests, vignettes and benchmarks that use them (skipped when absent).
export SCNYM_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: setup install document quickstart test test-rust test-r check lint clean

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

check: install
	rm -rf $(TARBALL) scnym.Rcheck
	$(R) CMD build .
	_R_CHECK_FORCE_SUGGESTS_=false $(R) CMD check --no-manual $(TARBALL)
	tools/check-log.sh scnym.Rcheck/00check.log

test: test-rust test-r check

lint: setup
	tools/cargo.sh fmt --all -- --check
	tools/cargo.sh clippy --release --all-targets -- -D warnings
	$(RSCRIPT) -e 'lints <- lintr::lint_dir("R"); print(lints); quit(status = length(lints) > 0)'

clean:
	rm -rf $(TARBALL) scnym.Rcheck src/*.o src/*.so src/Makevars
