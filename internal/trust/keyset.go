package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

// MinRSABits is the smallest RSA modulus a signing key may have.
const MinRSABits = 2048

// Bounds of one inspection. A key set is stored in an object (an inline
// jwks of up to the API server's request size) or fetched (up to
// --fetch-max-bytes), and whoever writes it may be hostile: the work and the
// report stay bounded whatever it holds.
const (
	// MaxMessagesPerProblem is how many messages one kind of problem gets;
	// the rest are counted in one "and N more" line.
	MaxMessagesPerProblem = 3
	// MaxAnalysedKeys is how many entries of "keys" are parsed as keys.
	// Every entry, analysed or not, is still searched for private key
	// material. Identity providers publish a handful of keys.
	MaxAnalysedKeys = 100
	// maxEcho bounds a value from the document (kid, alg, kty, a member
	// name) quoted in a message.
	maxEcho = 64
)

// KeySetReport is what InspectKeySet found in a JWKS document. Errors make
// the set unusable or dangerous; warnings are worth fixing. Both are short
// whatever the document's size.
type KeySetReport struct {
	// Keys is the number of entries in "keys".
	Keys int
	// Usable counts public signing keys Envoy can verify tokens with.
	Usable   int
	Errors   []string
	Warnings []string
	// PublicKeys are the usable keys, public parts only (what verifying a
	// token needs: `gatewarden explain`); at most the analysed ones.
	PublicKeys []jose.JSONWebKey
}

// OK is true when the set has no errors.
func (r KeySetReport) OK() bool { return len(r.Errors) == 0 }

// size estimates the bytes the report holds, for the cache's byte bound.
func (r *KeySetReport) size() int64 {
	n := int64(64)
	for _, s := range r.Errors {
		n += int64(len(s)) + 16
	}
	for _, s := range r.Warnings {
		n += int64(len(s)) + 16
	}
	// A public key in memory: the modulus or point and go-jose's fields.
	n += int64(len(r.PublicKeys)) * 512
	return n
}

// envoyAlgs are the JWS algorithms Envoy's jwt_authn verifies with
// asymmetric keys, by the key type they need.
var envoyAlgs = map[string]string{
	"RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
	"PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
	"ES256": "EC", "ES384": "EC", "ES512": "EC",
	"EdDSA": "OKP",
}

// ecAlgCurve pairs each ECDSA algorithm with its curve.
var ecAlgCurve = map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}

// privateMembers are JWK members that only private (or secret) keys carry.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// privateMember is the index of name in privateMembers, or -1. The match
// ignores case because encoding/json, and so go-jose, matches member names
// that way: "D" is read as "d".
func privateMember(name string) int {
	if len(name) > 4 {
		return -1
	}
	for i, m := range privateMembers {
		if strings.EqualFold(name, m) {
			return i
		}
	}
	return -1
}

// problem is a kind of finding; each kind gets MaxMessagesPerProblem
// messages and one line counting the rest.
type problem int

const (
	probPrivate problem = iota
	probSymmetric
	probSmallRSA
	probNotObject
	probDuplicateKid
	probUnsupported
	probUnparsable
	probMismatch
	numProblems
)

// more says how many further findings of a kind there were.
var more = [numProblems]string{
	probPrivate:      "and %d more places hold private key material; those keys have leaked too: publish only public parts and rotate them",
	probSymmetric:    "and %d more symmetric (oct) keys are published; those secrets have leaked too: remove and rotate them",
	probSmallRSA:     "and %d more RSA keys have fewer than 2048 bits",
	probNotObject:    "and %d more keys are not JSON objects; ignored",
	probDuplicateKid: "and %d more keys share a kid with an earlier key",
	probUnsupported:  "and %d more keys have a key type, curve or alg envoy does not support; ignored",
	probUnparsable:   "and %d more keys cannot be parsed; ignored",
	probMismatch:     "and %d more keys have an alg that does not fit the key; ignored",
}

// notes collects messages with a cap per kind of problem.
type notes struct {
	rep    *KeySetReport
	counts [numProblems]int
	isErr  [numProblems]bool
}

// want counts one finding of kind p and says whether it gets a message:
// only the first MaxMessagesPerProblem of a kind do, so a million findings
// cost a million increments and three messages.
func (n *notes) want(p problem, isErr bool) bool {
	n.counts[p]++
	n.isErr[p] = n.isErr[p] || isErr
	return n.counts[p] <= MaxMessagesPerProblem
}

func (n *notes) put(isErr bool, msg string) {
	if isErr {
		n.rep.Errors = append(n.rep.Errors, msg)
	} else {
		n.rep.Warnings = append(n.rep.Warnings, msg)
	}
}

// finish appends the "and N more" lines.
func (n *notes) finish() {
	for p := range numProblems {
		extra := n.counts[p] - MaxMessagesPerProblem
		if extra <= 0 {
			continue
		}
		msg := fmt.Sprintf(more[p], extra)
		if n.isErr[p] {
			n.rep.Errors = append(n.rep.Errors, msg)
		} else {
			n.rep.Warnings = append(n.rep.Warnings, msg)
		}
	}
}

const notAKeySet = `not a JSON Web Key Set: want a JSON object with a "keys" array`

// InspectKeySet judges a JWKS document: it must be {"keys": [...]} with at
// least one public signing key Envoy supports; RSA keys must have at least
// 2048 bits; private or symmetric key material anywhere is an error (it has
// leaked); duplicate kids are a warning. It never echoes key material.
//
// The document is walked token by token, so every member at any depth is
// seen, duplicate members included ({"keys":[private],"keys":[public]} hides
// nothing), and memory stays bounded: only one entry of "keys" is held at a
// time, at most MaxAnalysedKeys entries are parsed as keys, and each kind of
// problem gets MaxMessagesPerProblem messages plus a count of the rest.
func InspectKeySet(raw []byte) KeySetReport {
	var rep KeySetReport
	if !json.Valid(raw) {
		rep.Errors = append(rep.Errors, notAKeySet)
		return rep
	}
	in := &inspector{raw: raw, dec: json.NewDecoder(bytes.NewReader(raw)), n: &notes{rep: &rep}}
	// Numbers stay text: a number too large for a float64 is valid JSON
	// and must not end the walk.
	in.dec.UseNumber()
	keysOK := in.document()
	in.n.finish()
	switch {
	case !keysOK:
		rep.Errors = append(rep.Errors, notAKeySet)
	case rep.Keys == 0:
		rep.Errors = append(rep.Errors, "key set is empty; publish at least one public signing key")
	case rep.Usable == 0 && rep.Keys > MaxAnalysedKeys:
		rep.Errors = append(rep.Errors, fmt.Sprintf("no public signing key envoy can use among the first %d of %d keys; want RSA (at least 2048 bits), EC P-256/P-384/P-521 or Ed25519 keys with alg RS/PS/ES 256/384/512 or EdDSA, listed first", MaxAnalysedKeys, rep.Keys))
	case rep.Usable == 0:
		rep.Errors = append(rep.Errors, "no public signing key envoy can use; want RSA (at least 2048 bits), EC P-256/P-384/P-521 or Ed25519 keys with alg RS/PS/ES 256/384/512 or EdDSA")
	}
	return rep
}

// inspector walks one valid JSON document.
type inspector struct {
	raw  []byte
	dec  *json.Decoder
	n    *notes
	path []segment // members and indexes leading to the current value
	err  error     // the first decoding error; the walk stops there
	// keysMembers counts top-level "keys" members; kids maps the kids of
	// the analysed entries of the current one to their index.
	keysMembers int
	kids        map[string]int
	skip        skipValue
}

// segment is one step of a path: a member name, or an index; keys is the
// number of the "keys" member an index of one belongs to.
type segment struct {
	name    string
	isIndex bool
	index   int
	keys    int
}

// skipValue consumes a value through Decoder.Decode without copying or
// converting it: the walk needs member names and a few strings, not the
// base64 of every modulus.
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

func (in *inspector) token() (json.Token, bool) {
	if in.err != nil {
		return nil, false
	}
	tok, err := in.dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		in.err = err
		return nil, false
	}
	return tok, true
}

// next is the first byte of the next value: the decoder has not read past
// the end of the last token it returned, so the input says what comes.
func (in *inspector) next() byte {
	for off := int(in.dec.InputOffset()); off < len(in.raw); off++ {
		switch c := in.raw[off]; c {
		case ' ', '\t', '\r', '\n', ',', ':':
		default:
			return c
		}
	}
	return 0
}

// skipOrWalk consumes the next value: objects and arrays are walked, the
// rest is skipped unread.
func (in *inspector) skipOrWalk() {
	if in.err != nil {
		return
	}
	if c := in.next(); c != '{' && c != '[' {
		if err := in.dec.Decode(&in.skip); err != nil {
			in.err = err
		}
		return
	}
	if tok, ok := in.token(); ok {
		in.value(tok)
	}
}

func (in *inspector) push(s segment) { in.path = append(in.path, s) }
func (in *inspector) pop()           { in.path = in.path[:len(in.path)-1] }

// member reads the next member's name and, for the names whose string
// value the checks need, the value; other values are walked or skipped.
func (in *inspector) member(f *objectFacts) (name string, ok bool) {
	tok, ok := in.token()
	if !ok {
		return "", false
	}
	name, _ = tok.(string)
	f.member(name)
	switch name {
	case "kty", "kid", "alg", "use":
		if in.next() == '"' {
			tok, ok := in.token()
			if !ok {
				return name, false
			}
			f.str(name, tok.(string))
			return name, true
		}
	case "keys":
		return name, true // the caller reads it
	}
	in.push(segment{name: name})
	in.skipOrWalk()
	in.pop()
	return name, in.err == nil
}

// document walks the top level and says whether its last "keys" member is
// an array: encoding/json, Envoy's parser and most others keep the last of
// duplicate members, so that is the set judged, while every member is
// searched for private key material.
func (in *inspector) document() bool {
	if in.next() != '{' {
		in.skipOrWalk() // not a key set, but leaked keys are still reported
		return false
	}
	in.token() // '{'
	keysOK := false
	var facts objectFacts
	for in.err == nil && in.dec.More() {
		name, ok := in.member(&facts)
		if !ok || name != "keys" {
			continue
		}
		in.keysMembers++
		if in.keysMembers == 2 {
			in.n.rep.Warnings = append(in.n.rep.Warnings, `the document has more than one "keys" member; parsers disagree on which one counts (the last one is judged here, all are searched for private keys; entries of the n-th are named keys(n)[i]): keep one`)
		}
		in.n.rep.Keys, in.n.rep.Usable, in.kids = 0, 0, map[string]int{}
		if in.next() != '[' {
			in.push(segment{name: "keys"})
			in.skipOrWalk()
			in.pop()
			keysOK = false
			continue
		}
		in.token() // '['
		keysOK = in.keys()
	}
	in.token() // '}'
	if facts.private != 0 || facts.symmetric {
		in.reportObject(&facts)
	}
	return keysOK && in.err == nil
}

// keys walks the entries of one "keys" array (its '[' already read).
func (in *inspector) keys() bool {
	for i := 0; in.err == nil && in.dec.More(); i++ {
		in.n.rep.Keys++
		in.push(segment{isIndex: true, index: i, keys: in.keysMembers})
		if in.next() != '{' {
			in.skipOrWalk()
			if in.n.want(probNotObject, false) {
				in.n.put(false, in.label(nil)+": not a JSON object; ignored")
			}
			in.pop()
			continue
		}
		start := in.dec.InputOffset()
		in.token() // '{'
		facts := in.object()
		if in.err != nil {
			return false
		}
		var entry []byte
		if i < MaxAnalysedKeys {
			entry = bytes.TrimLeft(in.raw[start:in.dec.InputOffset()], " \t\r\n,")
		}
		in.judgeKey(i, &facts, entry)
		in.pop()
	}
	_, ok := in.token() // ']'
	return ok
}

// objectFacts are what a walk of one object learns from its own members.
type objectFacts struct {
	private   uint16 // bit i: privateMembers[i] is present
	symmetric bool   // a "kty" member is "oct"
	hasKid    bool
	// The last string value of each member, as encoding/json keeps it.
	kty, kid, alg, use string
}

func (f *objectFacts) member(name string) {
	if i := privateMember(name); i >= 0 {
		f.private |= 1 << i
	}
	if name == "kid" {
		f.hasKid = true
	}
}

func (f *objectFacts) str(name, v string) {
	switch name {
	case "kty":
		f.kty = v
		f.symmetric = f.symmetric || v == "oct"
	case "kid":
		f.kid = v
	case "alg":
		f.alg = v
	case "use":
		f.use = v
	}
}

// object walks an object whose '{' was read; nested objects holding private
// material are reported where they are, this one's facts are returned.
func (in *inspector) object() objectFacts {
	var f objectFacts
	for in.err == nil && in.dec.More() {
		if name, ok := in.member(&f); ok && name == "keys" {
			in.push(segment{name: name})
			in.skipOrWalk()
			in.pop()
		}
	}
	in.token() // '}'
	return f
}

// value walks a value whose first token was read, reporting objects with
// private or symmetric key material wherever they are.
func (in *inspector) value(tok json.Token) {
	switch tok {
	case json.Delim('{'):
		f := in.object()
		if f.private != 0 || f.symmetric {
			in.reportObject(&f)
		}
	case json.Delim('['):
		for i := 0; in.err == nil && in.dec.More(); i++ {
			in.push(segment{isIndex: true, index: i})
			in.skipOrWalk()
			in.pop()
		}
		in.token() // ']'
	}
}

// reportObject reports key material in an object that is not an entry of
// "keys" (the top level, another member, a nested value).
func (in *inspector) reportObject(f *objectFacts) {
	if !in.n.want(probSymmetricOrPrivate(f), true) {
		return
	}
	where := "the key set's top level"
	if len(in.path) > 0 {
		where = in.label(nil)
	}
	if f.symmetric {
		in.n.put(true, where+": symmetric (oct) key published; the secret has leaked: remove it and rotate it")
		return
	}
	in.n.put(true, fmt.Sprintf("%s: contains private key material (%s); the key has leaked: publish only the public part and rotate the key", where, privateList(f.private)))
}

func probSymmetricOrPrivate(f *objectFacts) problem {
	if f.symmetric {
		return probSymmetric
	}
	return probPrivate
}

func privateList(bits uint16) string {
	var names []string
	for i, m := range privateMembers {
		if bits&(1<<i) != 0 {
			names = append(names, m)
		}
	}
	return strings.Join(names, ", ")
}

// label renders the current path, with the entry's kid when known.
func (in *inspector) label(f *objectFacts) string {
	var b strings.Builder
	for _, p := range in.path {
		switch {
		case !p.isIndex:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(printable(p.name))
		case p.keys > 1:
			fmt.Fprintf(&b, "keys(%d)[%d]", p.keys, p.index)
		case p.keys == 1:
			fmt.Fprintf(&b, "keys[%d]", p.index)
		default:
			fmt.Fprintf(&b, "[%d]", p.index)
		}
		if b.Len() > 4*maxEcho {
			b.WriteString("…")
			break
		}
	}
	if f != nil && f.kid != "" {
		fmt.Fprintf(&b, " (kid %q)", echo(f.kid))
	}
	return b.String()
}

// printable is a member name for a path: shortened, control characters
// escaped so that a name cannot forge lines of a message.
func printable(name string) string {
	if name == "" {
		return `""`
	}
	q := strconv.Quote(echo(name))
	return q[1 : len(q)-1]
}

// echo shortens a value from the document for a message.
func echo(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// judgeKey judges one entry of "keys". entry is its JSON when it is among
// the first MaxAnalysedKeys, nil otherwise: later entries are only searched
// for key material.
func (in *inspector) judgeKey(i int, f *objectFacts, entry []byte) {
	label := func() string { return in.label(f) }
	kty, kid, alg, use := f.kty, f.kid, f.alg, f.use
	if f.hasKid && entry != nil {
		if first, dup := in.kids[kid]; dup {
			if in.n.want(probDuplicateKid, false) {
				in.n.put(false, fmt.Sprintf("keys[%d] and keys[%d] share kid %q; tokens may be checked against the wrong key", first, i, echo(kid)))
			}
		} else {
			in.kids[kid] = i
		}
	}
	// Private material is judged on the members, so a key go-jose would
	// refuse to parse is still caught.
	if f.symmetric {
		if in.n.want(probSymmetric, true) {
			in.n.put(true, fmt.Sprintf("%s: symmetric (oct) key published; the secret has leaked: remove it and rotate it", label()))
		}
		return
	}
	if f.private != 0 {
		if in.n.want(probPrivate, true) {
			in.n.put(true, fmt.Sprintf("%s: contains private key material (%s); the key has leaked: publish only the public part and rotate the key", label(), privateList(f.private)))
		}
		return
	}
	if use == "enc" || entry == nil {
		return // an encryption key is harmless; later entries are not analysed
	}

	var k jose.JSONWebKey
	if err := json.Unmarshal(entry, &k); err != nil {
		if errors.Is(err, jose.ErrUnsupportedKeyType) {
			if in.n.want(probUnsupported, false) {
				in.n.put(false, fmt.Sprintf("%s: key type %q is not supported by envoy; ignored", label(), echo(kty)))
			}
		} else {
			if in.n.want(probUnparsable, false) {
				in.n.put(false, fmt.Sprintf("%s: cannot be parsed (%s); ignored", label(), echo(strings.TrimPrefix(err.Error(), "go-jose/go-jose: "))))
			}
		}
		return
	}
	wantKty, known := envoyAlgs[alg]
	if alg != "" && !known {
		if in.n.want(probUnsupported, false) {
			in.n.put(false, fmt.Sprintf("%s: alg %q is not supported by envoy; ignored", label(), echo(alg)))
		}
		return
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < MinRSABits {
			if in.n.want(probSmallRSA, true) {
				in.n.put(true, fmt.Sprintf("%s: RSA key has %d bits; use at least %d", label(), bits, MinRSABits))
			}
			return
		}
		if alg != "" && wantKty != "RSA" {
			if in.n.want(probMismatch, false) {
				in.n.put(false, fmt.Sprintf("%s: alg %q does not fit an RSA key; ignored", label(), alg))
			}
			return
		}
	case *ecdsa.PublicKey:
		curve := pub.Curve.Params().Name
		if _, ok := map[string]bool{"P-256": true, "P-384": true, "P-521": true}[curve]; !ok {
			if in.n.want(probUnsupported, false) {
				in.n.put(false, fmt.Sprintf("%s: curve %q is not supported by envoy; ignored", label(), echo(curve)))
			}
			return
		}
		if alg != "" && ecAlgCurve[alg] != curve {
			if in.n.want(probMismatch, false) {
				in.n.put(false, fmt.Sprintf("%s: alg %q does not fit curve %s; ignored", label(), alg, curve))
			}
			return
		}
	case ed25519.PublicKey:
		if alg != "" && wantKty != "OKP" {
			if in.n.want(probMismatch, false) {
				in.n.put(false, fmt.Sprintf("%s: alg %q does not fit an Ed25519 key; ignored", label(), alg))
			}
			return
		}
	default:
		if in.n.want(probUnsupported, false) {
			in.n.put(false, fmt.Sprintf("%s: key type %q is not supported by envoy; ignored", label(), echo(kty)))
		}
		return
	}
	in.n.rep.Usable++
	in.n.rep.PublicKeys = append(in.n.rep.PublicKeys, k.Public())
}
