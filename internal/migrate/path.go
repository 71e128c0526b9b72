package migrate

import (
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
)

// v1beta1 rule paths are regular expressions: Kyma put them into the
// VirtualService as uri.regex (only "/*" became prefix "/"), and Envoy matches
// them with RE2 against the whole path, query excluded. v2 paths are exact,
// with {*} for one segment and {**} for any rest, which Kyma's VirtualService
// writes as regexes: {*} is one or more path characters without '/', {**}
// zero or more with '/'. TranslatePath keeps a regex only where the v2 form
// matches the same paths.

// maxPaths bounds how many v2 rules one v1beta1 path may become.
const maxPaths = 8

type pieceKind int

const (
	pLit       pieceKind = iota
	pAnyChar             // '.' alone
	pRestStar            // .* : anything, '/' included, possibly nothing
	pRestPlus            // .+
	pSegStar             // [^/]*
	pSegPlus             // [^/]+
	pSlashStar           // /* read as a regex: any number of '/'
	pAnchor              // ^ or $
)

type piece struct {
	kind pieceKind
	text string
}

// PathTranslation is a v1beta1 path in v2.
type PathTranslation struct {
	// Paths are the v2 paths, one rule each, in the order the alternatives
	// appear.
	Paths []string
	// DotAsLiteral: the regex had '.' standing for any one character, which v2
	// matches only literally.
	DotAsLiteral bool
}

// TranslatePath translates a v1beta1 rule path; the error says why v2 cannot
// match the same requests and what to write instead.
func TranslatePath(p string) (PathTranslation, error) {
	if p == "/*" {
		return PathTranslation{Paths: []string{"/*"}}, nil
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return PathTranslation{}, fmt.Errorf("not a regular expression Envoy accepts (%v), so v1beta1 never routed it: fix the path", err)
	}
	seqs, err := expand(re)
	if err != nil {
		return PathTranslation{}, err
	}
	var out PathTranslation
	seen := map[string]bool{}
	for _, s := range seqs {
		path, dot, err := toV2(s)
		if err != nil {
			return PathTranslation{}, err
		}
		out.DotAsLiteral = out.DotAsLiteral || dot
		if !seen[path] {
			seen[path] = true
			out.Paths = append(out.Paths, path)
		}
	}
	return out, nil
}

func describe(re *syntax.Regexp) string {
	return fmt.Sprintf("%q", re.String())
}

// expand lists the concatenations of pieces the regex stands for.
func expand(re *syntax.Regexp) ([][]piece, error) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return [][]piece{{}}, nil
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 && hasLetter(re.Rune) {
			return nil, fmt.Errorf("%s matches letters in any case; v2 paths match case exactly: list the spellings as separate rules", describe(re))
		}
		return [][]piece{{{kind: pLit, text: string(re.Rune)}}}, nil
	case syntax.OpCharClass:
		runes, ok := classRunes(re.Rune)
		switch {
		case ok:
			var out [][]piece
			for _, r := range runes {
				out = append(out, []piece{{kind: pLit, text: string(r)}})
			}
			return out, nil
		case classAllBut(re.Rune, '/'):
			return nil, fmt.Errorf("%s matches one character other than '/'; v2 has no single-character wildcard, only {*} for a whole segment", describe(re))
		}
		return nil, fmt.Errorf("%s matches one of a set of characters; v2 has no character classes: list the paths as separate rules", describe(re))
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return [][]piece{{{kind: pAnyChar}}}, nil
	case syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine:
		return [][]piece{{{kind: pAnchor}}}, nil
	case syntax.OpCapture:
		return expand(re.Sub[0])
	case syntax.OpConcat:
		out := [][]piece{{}}
		for _, sub := range re.Sub {
			alts, err := expand(sub)
			if err != nil {
				return nil, err
			}
			var next [][]piece
			for _, a := range out {
				for _, b := range alts {
					next = append(next, append(append([]piece{}, a...), b...))
				}
			}
			if len(next) > maxPaths {
				return nil, fmt.Errorf("the regex stands for more than %d path patterns; write the v2 rules by hand", maxPaths)
			}
			out = next
		}
		return out, nil
	case syntax.OpAlternate:
		var out [][]piece
		for _, sub := range re.Sub {
			alts, err := expand(sub)
			if err != nil {
				return nil, err
			}
			out = append(out, alts...)
		}
		if len(out) > maxPaths {
			return nil, fmt.Errorf("the regex stands for more than %d path patterns; write the v2 rules by hand", maxPaths)
		}
		return out, nil
	case syntax.OpQuest:
		alts, err := expand(re.Sub[0])
		if err != nil {
			return nil, err
		}
		return append(alts, []piece{}), nil
	case syntax.OpStar, syntax.OpPlus:
		sub := re.Sub[0]
		star := re.Op == syntax.OpStar
		switch {
		case sub.Op == syntax.OpAnyCharNotNL || sub.Op == syntax.OpAnyChar || (sub.Op == syntax.OpCharClass && classAllBut(sub.Rune, -1)):
			if star {
				return [][]piece{{{kind: pRestStar}}}, nil
			}
			return [][]piece{{{kind: pRestPlus}}}, nil
		case sub.Op == syntax.OpCharClass && classAllBut(sub.Rune, '/'):
			if star {
				return [][]piece{{{kind: pSegStar}}}, nil
			}
			return [][]piece{{{kind: pSegPlus}}}, nil
		case sub.Op == syntax.OpLiteral && string(sub.Rune) == "/":
			return [][]piece{{{kind: pSlashStar}}}, nil
		}
		return nil, fmt.Errorf("%s repeats a pattern; v2 repeats only whole segments ({*}) or the rest of the path ({**}): write the v2 rules by hand", describe(re))
	case syntax.OpRepeat:
		return nil, fmt.Errorf("%s repeats a pattern; v2 repeats only whole segments ({*}) or the rest of the path ({**}): write the v2 rules by hand", describe(re))
	}
	return nil, fmt.Errorf("%s has no v2 equivalent: write the v2 rules by hand", describe(re))
}

func hasLetter(rs []rune) bool {
	for _, r := range rs {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// classRunes lists a small character class, e.g. [12] in v[12].
func classRunes(ranges []rune) ([]rune, bool) {
	var out []rune
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i+1]-ranges[i] > maxPaths {
			return nil, false
		}
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			out = append(out, r)
		}
	}
	return out, len(out) <= maxPaths
}

// classAllBut says whether a class holds every printable ASCII character
// except but (-1: none missing); a newline may be missing too, as in [^/].
func classAllBut(ranges []rune, but rune) bool {
	in := func(r rune) bool {
		for i := 0; i+1 < len(ranges); i += 2 {
			if r >= ranges[i] && r <= ranges[i+1] {
				return true
			}
		}
		return false
	}
	for r := rune(0x20); r < 0x7f; r++ {
		if in(r) != (r != but) {
			return false
		}
	}
	return true
}

// toV2 writes one concatenation as a v2 path.
func toV2(seq []piece) (string, bool, error) {
	// Envoy matches the whole path, so anchors at either end change nothing.
	for i, pc := range seq {
		if pc.kind == pAnchor && i != 0 && i != len(seq)-1 {
			return "", false, fmt.Errorf("an anchor (^ or $) inside the path never matches a request path; fix the regex")
		}
	}
	var clean []piece
	dot := false
	for _, pc := range seq {
		switch pc.kind {
		case pAnchor:
			continue
		case pAnyChar:
			dot = true
			pc = piece{kind: pLit, text: "."}
		}
		if n := len(clean); n > 0 && pc.kind == pLit && clean[n-1].kind == pLit {
			clean[n-1].text += pc.text
			continue
		}
		clean = append(clean, pc)
	}
	var b strings.Builder
	rest := false
	for i, pc := range clean {
		prefix := b.String()
		afterSlash := strings.HasSuffix(prefix, "/")
		nextOK := i == len(clean)-1 || (clean[i+1].kind == pLit && strings.HasPrefix(clean[i+1].text, "/"))
		switch pc.kind {
		case pLit:
			b.WriteString(pc.text)
			continue
		case pRestStar:
			switch {
			case prefix == "":
				return "", false, fmt.Errorf("a path starts with '/'; this regex also matches paths that do not: write the v2 rules by hand")
			case !afterSlash:
				return "", false, fmt.Errorf("matches %q followed by anything, also within the same segment (e.g. %q); v2 cannot match part of a segment: use two rules, %q and %q, if %q-like paths need not match", prefix, prefix+"x", prefix, prefix+"/{**}", prefix+"x")
			case !nextOK:
				return "", false, fmt.Errorf("matches anything after %q and then more text in the same segment; v2's {**} must be a whole segment: write the v2 rules by hand", prefix)
			case rest:
				return "", false, fmt.Errorf("matches any rest twice; v2 allows {**} once: write the v2 rules by hand")
			}
			rest = true
			b.WriteString("{**}")
		case pSegPlus:
			switch {
			case !afterSlash || !nextOK:
				return "", false, fmt.Errorf("matches characters other than '/' within a segment after %q; v2's {*} must be a whole segment: write the v2 rules by hand", prefix)
			case rest:
				return "", false, fmt.Errorf("matches one segment after any rest; v2 allows no {*} after {**}: write the v2 rules by hand")
			}
			b.WriteString("{*}")
		case pSegStar:
			return "", false, fmt.Errorf("matches an empty segment after %q as well; v2's {*} needs at least one character: use %q if %q itself need not match", prefix, prefix+"{*}", prefix)
		case pRestPlus:
			return "", false, fmt.Errorf("needs at least one character after %q; v2's {**} also matches none: use %q if %q itself may match", prefix, strings.TrimSuffix(prefix, "/")+"/{**}", prefix)
		case pSlashStar:
			return "", false, fmt.Errorf("as a regex, \"/*\" after %q matches any number of '/' (not a wildcard); use %q for everything below %q", prefix, strings.TrimSuffix(prefix, "/")+"/{**}", strings.TrimSuffix(prefix, "/"))
		}
	}
	path := b.String()
	if msg := v2PathProblem(path); msg != "" {
		return "", false, fmt.Errorf("%s", msg)
	}
	return path, dot, nil
}

// v2PathProblem checks the literal parts against the v2 CRD's path pattern.
func v2PathProblem(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "a v2 path starts with '/': fix the path"
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "{*}" || seg == "{**}" {
			continue
		}
		for i := 0; i < len(seg); i++ {
			ch := seg[i]
			switch {
			case ch == '%' && i+2 < len(seg) && isHex(seg[i+1]) && isHex(seg[i+2]):
				i += 2
			case ch >= '0' && ch <= '9', ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', strings.IndexByte("-._~!$&'()+,;=:@", ch) >= 0:
			default:
				return fmt.Sprintf("character %q in segment %q is not allowed in a v2 path: percent-encode it or write the v2 rules by hand", ch, seg)
			}
		}
	}
	return ""
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
