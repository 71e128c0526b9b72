package config

import (
	"strings"
	"testing"
	"time"
)

func TestExceptionsSection(t *testing.T) {
	c := Default()
	if c.Exceptions.AllowAllChecks || c.Exceptions.MaxDuration.Duration != 90*24*time.Hour {
		t.Errorf("defaults %+v, want no blanket exceptions and 90 days", c.Exceptions)
	}
	c, err := Parse([]byte("exceptions: {allowAllChecks: true, maxDuration: 168h}"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Exceptions.AllowAllChecks || c.Exceptions.MaxDuration.Duration != 168*time.Hour {
		t.Errorf("parsed %+v", c.Exceptions)
	}
	for doc, want := range map[string]string{
		"exceptions: {maxDuration: -1h}": "exceptions.maxDuration",
		"exceptions: {allowAll: true}":   "allowAll",
		"exceptions: {maxDuration: 90d}": `"90d"`,
	} {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %s", doc, err, want)
		}
	}
}
