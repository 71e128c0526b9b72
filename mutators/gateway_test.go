package mutators

import (
	"slices"
	"testing"

	"github.com/gatewarden/gatewarden/internal/core"
)

func TestDefaultMinTLSVersion(t *testing.T) {
	server := func(tls string) string {
		return `{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["*.example.com"],"tls":` + tls + `}`
	}
	cases := []struct {
		name     string
		servers  string
		settings core.DefaultSettings
		want     []string
		warnings []string
	}{
		{"simple", `[` + server(`{"mode":"SIMPLE","credentialName":"c"}`) + `]`, core.DefaultSettings{},
			[]string{`add /spec/servers/0/tls/minProtocolVersion "TLSV1_2"`}, nil},
		{"mutual", `[` + server(`{"mode":"MUTUAL","credentialName":"c"}`) + `]`, core.DefaultSettings{},
			[]string{`add /spec/servers/0/tls/minProtocolVersion "TLSV1_2"`}, nil},
		{"optional mutual", `[` + server(`{"mode":"OPTIONAL_MUTUAL","credentialName":"c"}`) + `]`, core.DefaultSettings{},
			[]string{`add /spec/servers/0/tls/minProtocolVersion "TLSV1_2"`}, nil},
		{"configured version", `[` + server(`{"mode":"SIMPLE","credentialName":"c"}`) + `]`, core.DefaultSettings{MinTLSVersion: "TLSV1_3"},
			[]string{`add /spec/servers/0/tls/minProtocolVersion "TLSV1_3"`}, nil},
		{"explicit TLS_AUTO is unset", `[` + server(`{"mode":"SIMPLE","credentialName":"c","minProtocolVersion":"TLS_AUTO"}`) + `]`, core.DefaultSettings{},
			[]string{`add /spec/servers/0/tls/minProtocolVersion "TLSV1_2"`}, nil},
		{"already set", `[` + server(`{"mode":"SIMPLE","credentialName":"c","minProtocolVersion":"TLSV1_3"}`) + `]`, core.DefaultSettings{}, nil, nil},
		{"set lower is kept", `[` + server(`{"mode":"SIMPLE","credentialName":"c","minProtocolVersion":"TLSV1_0"}`) + `]`, core.DefaultSettings{}, nil, nil},
		{"passthrough", `[` + server(`{"mode":"PASSTHROUGH"}`) + `]`, core.DefaultSettings{}, nil, nil},
		{"mode unset is passthrough", `[` + server(`{"credentialName":"c"}`) + `]`, core.DefaultSettings{}, nil, nil},
		{"auto passthrough", `[` + server(`{"mode":"AUTO_PASSTHROUGH"}`) + `]`, core.DefaultSettings{}, nil, nil},
		{"istio mutual", `[` + server(`{"mode":"ISTIO_MUTUAL"}`) + `]`, core.DefaultSettings{}, nil, nil},
		{"http redirect only", `[{"port":{"number":80,"name":"http","protocol":"HTTP"},"hosts":["*"],"tls":{"httpsRedirect":true}}]`, core.DefaultSettings{}, nil, nil},
		{"no tls", `[{"port":{"number":80,"name":"http","protocol":"HTTP"},"hosts":["*"]}]`, core.DefaultSettings{}, nil, nil},
		{"max below default", `[` + server(`{"mode":"SIMPLE","credentialName":"c","maxProtocolVersion":"TLSV1_1"}`) + `]`, core.DefaultSettings{},
			nil, []string{"default-min-tls-version spec.servers[0].tls.minProtocolVersion"}},
		{"max at default", `[` + server(`{"mode":"SIMPLE","credentialName":"c","maxProtocolVersion":"TLSV1_2"}`) + `]`, core.DefaultSettings{},
			[]string{`add /spec/servers/0/tls/minProtocolVersion "TLSV1_2"`}, nil},
		{"second server", `[{"port":{"number":80,"name":"http","protocol":"HTTP"},"hosts":["*"]},` + server(`{"mode":"SIMPLE","credentialName":"c"}`) + `]`, core.DefaultSettings{},
			[]string{`add /spec/servers/1/tls/minProtocolVersion "TLSV1_2"`}, nil},
		{"bad setting", `[` + server(`{"mode":"SIMPLE","credentialName":"c"}`) + `]`, core.DefaultSettings{MinTLSVersion: "TLS_AUTO"},
			nil, []string{"default-min-tls-version spec.servers"}},
		{"disabled", `[` + server(`{"mode":"SIMPLE","credentialName":"c"}`) + `]`, core.DefaultSettings{Disabled: []string{DefaultMinTLSVersion}}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, warns := mutate(t, gatewayV1, gatewayDoc(tc.servers), &core.Env{Defaults: tc.settings})
			if got := specOps(t, ops); !slices.Equal(got, tc.want) {
				t.Errorf("ops %q, want %q", got, tc.want)
			}
			if got := warningLines(warns); !slices.Equal(got, tc.warnings) {
				t.Errorf("warnings %q, want %q", got, tc.warnings)
			}
		})
	}
}
