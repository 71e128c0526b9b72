package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/internal/core"
)

// docs/checks.md is generated from the registry; a check added without
// `make docs` fails here rather than leaving the catalogue stale.
func TestChecksDocUpToDate(t *testing.T) {
	var b bytes.Buffer
	printChecksMarkdown(&b)
	want, err := os.ReadFile("../../docs/checks.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatal("docs/checks.md is out of date: run `make docs`")
	}
	for _, c := range core.Catalog() {
		if !strings.Contains(b.String(), "`"+c.ID+"`") {
			t.Errorf("check %s missing from the catalogue", c.ID)
		}
	}
	for _, d := range core.Defaults() {
		if !strings.Contains(b.String(), "`"+d.ID+"`") {
			t.Errorf("default %s missing from the catalogue", d.ID)
		}
	}
}

// Every check names the runtime code its verdict rests on and the file that
// implements it, so docs/checks.md leads to both.
func TestEveryCheckNamesRuntimeAndSource(t *testing.T) {
	for _, c := range core.Catalog() {
		if c.Runtime == "" {
			t.Errorf("%s: no Runtime", c.ID)
		}
		if !strings.HasPrefix(c.Source, "validators/") || !strings.HasSuffix(c.Source, ".go") {
			t.Errorf("%s: Source %q is not a file of validators/", c.ID, c.Source)
		}
	}
}
