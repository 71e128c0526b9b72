package migrate

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestTranslatePath(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		dot     bool
		wantErr string
	}{
		{in: "/*", want: []string{"/*"}},
		{in: "/.*", want: []string{"/{**}"}},
		{in: "/(.*)", want: []string{"/{**}"}},
		{in: "^/.*$", want: []string{"/{**}"}},
		{in: "/headers", want: []string{"/headers"}},
		{in: "/api/v1/.*", want: []string{"/api/v1/{**}"}},
		{in: "/api/.*/status", want: []string{"/api/{**}/status"}},
		{in: "/users/[^/]+", want: []string{"/users/{*}"}},
		{in: "/users/[^/]+/orders", want: []string{"/users/{*}/orders"}},
		{in: "/users/[^/]+/.*", want: []string{"/users/{*}/{**}"}},
		{in: "/foo(/.*)?", want: []string{"/foo/{**}", "/foo"}},
		{in: "/(orders|items)", want: []string{"/orders", "/items"}},
		{in: "/v[12]/x", want: []string{"/v1/x", "/v2/x"}},
		{in: "/foo/?", want: []string{"/foo/", "/foo"}},
		{in: `/favicon\.ico`, want: []string{"/favicon.ico"}},
		{in: "/favicon.ico", want: []string{"/favicon.ico"}, dot: true},

		{in: "/foo.*", wantErr: `use two rules, "/foo" and "/foo/{**}"`},
		{in: "/.+", wantErr: `{**} also matches none`},
		{in: "/users/[^/]*", wantErr: `needs at least one character`},
		{in: "/foo/*", wantErr: `any number of '/'`},
		{in: "/[a-z]+", wantErr: "repeats a pattern"},
		{in: `/\d+`, wantErr: "repeats a pattern"},
		{in: "/v[a-z]/x", wantErr: "set of characters"},
		{in: "/(?i)foo", wantErr: "any case"},
		{in: "/a{2}", wantErr: "repeats a pattern"},
		{in: "/(a|b|c)(d|e|f)", wantErr: "more than 8"},
		{in: "/foo/.*/bar/.*", wantErr: "{**} once"},
		{in: "/.*/[^/]+", wantErr: "no {*} after {**}"},
		{in: ".*", wantErr: "starts with '/'"},
		{in: "/foo(", wantErr: "not a regular expression"},
		{in: "/a b", wantErr: `character ' '`},
		{in: `/\{x\}`, wantErr: `character '{'`},
		{in: "/a$b", wantErr: "anchor"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := TranslatePath(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error containing %q, got %v (paths %v)", tc.wantErr, err, got.Paths)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Paths, tc.want) || got.DotAsLiteral != tc.dot {
				t.Fatalf("got %v dot=%v, want %v dot=%v", got.Paths, got.DotAsLiteral, tc.want, tc.dot)
			}
		})
	}
}

// v2Regex is the path as Kyma's v2 VirtualService matches it: {*} and {**}
// as regexes, "/*" as the prefix "/".
func v2Regex(path string) *regexp.Regexp {
	if path == "/*" {
		return regexp.MustCompile(`^/`)
	}
	r := strings.NewReplacer(`{**}`, `([A-Za-z0-9-._~!$&'()*+,;=:@/]|%[0-9a-fA-F]{2})*`, `{*}`, `([A-Za-z0-9-._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+`).Replace(regexp.QuoteMeta(path))
	r = strings.NewReplacer(`\{\*\*\}`, `([A-Za-z0-9-._~!$&'()*+,;=:@/]|%[0-9a-fA-F]{2})*`, `\{\*\}`, `([A-Za-z0-9-._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+`).Replace(r)
	return regexp.MustCompile("^" + r + "$")
}

// TestTranslatedPathsMatchTheSameRequests compares the v1beta1 regex, as
// Envoy anchored it, with the union of the v2 paths on request paths made of
// the characters a path may hold.
func TestTranslatedPathsMatchTheSameRequests(t *testing.T) {
	probes := []string{"/", "/foo", "/foo/", "/foo/bar", "/foo/bar/", "/foo/bar/baz", "/foobar", "/fo", "/orders", "/items",
		"/v1/x", "/v2/x", "/v3/x", "/users/7", "/users/7/orders", "/users//orders", "/users/", "/api/v1/a/b", "/api/v1/",
		"/api/x/y/status", "/api/status", "/headers", "/headers/x", "/a%20b", "/x:y@z"}
	for _, in := range []string{"/.*", "/headers", "/api/v1/.*", "/api/.*/status", "/users/[^/]+", "/users/[^/]+/orders",
		"/foo(/.*)?", "/(orders|items)", "/v[12]/x", "/foo/?"} {
		tr, err := TranslatePath(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		old := regexp.MustCompile("^(?:" + in + ")$")
		for _, probe := range probes {
			matched := false
			for _, p := range tr.Paths {
				matched = matched || v2Regex(p).MatchString(probe)
			}
			if matched != old.MatchString(probe) {
				t.Errorf("%s → %v: %q matched by v1beta1 %v, by v2 %v", in, tr.Paths, probe, old.MatchString(probe), matched)
			}
		}
	}
}
