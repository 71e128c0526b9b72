package mutators

import (
	"strconv"
	"strings"
)

// path names one field of the object as a list of tokens: object keys
// (string) and array indices (int). It renders both as the JSON pointer a
// patch needs and as the field path findings and the annotation show.
type path []any

func root(keys ...string) path {
	p := make(path, 0, len(keys))
	for _, k := range keys {
		p = append(p, k)
	}
	return p
}

// Key returns p extended by object keys; p itself is never modified.
func (p path) Key(keys ...string) path {
	out := make(path, len(p), len(p)+len(keys))
	copy(out, p)
	for _, k := range keys {
		out = append(out, k)
	}
	return out
}

// Index returns p extended by an array index.
func (p path) Index(i int) path {
	out := make(path, len(p), len(p)+1)
	copy(out, p)
	return append(out, i)
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// Pointer is the RFC 6901 JSON pointer: /spec/rules/0/service/port.
func (p path) Pointer() string {
	var b strings.Builder
	for _, t := range p {
		b.WriteByte('/')
		switch v := t.(type) {
		case int:
			b.WriteString(strconv.Itoa(v))
		case string:
			b.WriteString(pointerEscaper.Replace(v))
		}
	}
	return b.String()
}

// String is the Kubernetes field path: spec.rules[0].service.port.
func (p path) String() string {
	var b strings.Builder
	for _, t := range p {
		switch v := t.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(v) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(v)
		}
	}
	return b.String()
}
