package main

import (
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A validator for the subset of XML Schema that testdata/schemas/JUnit.xsd
// uses (named and inline complex and simple types, sequence, choice,
// complexContent and simpleContent extensions, attributes, restrictions with
// pattern, minLength and whiteSpace facets, the built-in types it names).
// Go has no XSD validator without cgo; this one fails the test on any
// construct it does not know instead of skipping it, so it cannot pass a
// document by ignoring part of the schema.

type xnode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []*xnode   `xml:",any"`
	Text     string     `xml:",chardata"`
}

func (n *xnode) attr(name string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

// kids are the children that are not annotations.
func (n *xnode) kids() []*xnode {
	var out []*xnode
	for _, c := range n.Children {
		if c.XMLName.Local != "annotation" {
			out = append(out, c)
		}
	}
	return out
}

type xsd struct {
	t        *testing.T
	elements map[string]*xnode
	complex  map[string]*xnode
	simple   map[string]*xnode
	errs     []string
}

func loadXSD(t *testing.T, path string) *xsd {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root xnode
	if err := xml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	s := &xsd{t: t, elements: map[string]*xnode{}, complex: map[string]*xnode{}, simple: map[string]*xnode{}}
	for _, c := range root.kids() {
		name, _ := c.attr("name")
		switch c.XMLName.Local {
		case "element":
			s.elements[name] = c
		case "complexType":
			s.complex[name] = c
		case "simpleType":
			s.simple[name] = c
		default:
			t.Fatalf("xsd: top-level %s not supported", c.XMLName.Local)
		}
	}
	return s
}

// validate checks a document; it returns every violation found.
func (s *xsd) validate(doc []byte) []string {
	s.errs = nil
	var root xnode
	if err := xml.Unmarshal(doc, &root); err != nil {
		return []string{"not XML: " + err.Error()}
	}
	decl, ok := s.elements[root.XMLName.Local]
	if !ok {
		return []string{fmt.Sprintf("root element %q is not declared", root.XMLName.Local)}
	}
	s.element(decl, &root, "/"+root.XMLName.Local)
	return s.errs
}

func (s *xsd) fail(path, format string, args ...any) {
	s.errs = append(s.errs, path+": "+fmt.Sprintf(format, args...))
}

func (s *xsd) element(decl, el *xnode, path string) {
	if typ, ok := decl.attr("type"); ok {
		switch {
		case strings.HasPrefix(typ, "xs:") || s.simple[typ] != nil:
			s.simpleElement(el, path, func(v string) error { return s.value(typ, nil, v) })
		case s.complex[typ] != nil:
			s.complexElement(s.complex[typ], el, path)
		default:
			s.t.Fatalf("xsd: unknown type %q", typ)
		}
		return
	}
	kids := decl.kids()
	if len(kids) == 0 {
		return // no type: anything goes (xs:anyType)
	}
	switch kids[0].XMLName.Local {
	case "complexType":
		s.complexElement(kids[0], el, path)
	case "simpleType":
		s.simpleElement(el, path, func(v string) error { return s.value("", kids[0], v) })
	default:
		s.t.Fatalf("xsd: element content %s not supported", kids[0].XMLName.Local)
	}
}

func (s *xsd) simpleElement(el *xnode, path string, check func(string) error) {
	if len(el.Children) > 0 {
		s.fail(path, "child elements in a text-only element")
	}
	if len(el.Attrs) > 0 {
		s.fail(path, "attributes on a text-only element")
	}
	if err := check(el.Text); err != nil {
		s.fail(path, "%v", err)
	}
}

// model is what a complex type allows: a content particle, attributes, or
// text of a simple type.
type model struct {
	particle *xnode
	attrs    []*xnode
	textType string
	mixed    bool
}

func (s *xsd) model(ct *xnode) model {
	var m model
	if v, _ := ct.attr("mixed"); v == "true" {
		m.mixed = true
	}
	for _, c := range ct.kids() {
		switch c.XMLName.Local {
		case "sequence", "choice":
			m.particle = c
		case "attribute":
			m.attrs = append(m.attrs, c)
		case "complexContent":
			ext := only(s.t, c, "extension")
			base, _ := ext.attr("base")
			if s.complex[base] == nil {
				s.t.Fatalf("xsd: complexContent base %q not a complex type", base)
			}
			m = s.model(s.complex[base])
			for _, e := range ext.kids() {
				if e.XMLName.Local != "attribute" {
					s.t.Fatalf("xsd: extension content %s not supported", e.XMLName.Local)
				}
				m.attrs = append(m.attrs, e)
			}
		case "simpleContent":
			ext := only(s.t, c, "extension")
			m.textType, _ = ext.attr("base")
			for _, e := range ext.kids() {
				if e.XMLName.Local != "attribute" {
					s.t.Fatalf("xsd: extension content %s not supported", e.XMLName.Local)
				}
				m.attrs = append(m.attrs, e)
			}
		default:
			s.t.Fatalf("xsd: complexType content %s not supported", c.XMLName.Local)
		}
	}
	return m
}

func only(t *testing.T, n *xnode, want string) *xnode {
	k := n.kids()
	if len(k) != 1 || k[0].XMLName.Local != want {
		t.Fatalf("xsd: %s: want one %s", n.XMLName.Local, want)
	}
	return k[0]
}

func (s *xsd) complexElement(ct, el *xnode, path string) {
	m := s.model(ct)
	s.attributes(m.attrs, el, path)
	if m.textType != "" {
		if len(el.Children) > 0 {
			s.fail(path, "child elements in simple content")
		}
		if err := s.value(m.textType, nil, el.Text); err != nil {
			s.fail(path, "%v", err)
		}
		return
	}
	if !m.mixed && strings.TrimSpace(el.Text) != "" {
		s.fail(path, "text %q in element-only content", el.Text)
	}
	i := 0
	if m.particle != nil {
		i = s.particle(m.particle, el.Children, 0, path)
	}
	for ; i < len(el.Children); i++ {
		s.fail(path, "unexpected element <%s>", el.Children[i].XMLName.Local)
	}
}

func occurs(t *testing.T, n *xnode) (lo, hi int) {
	lo, hi = 1, 1
	if v, ok := n.attr("minOccurs"); ok {
		lo, _ = strconv.Atoi(v)
	}
	if v, ok := n.attr("maxOccurs"); ok {
		if v == "unbounded" {
			hi = math.MaxInt
		} else if n, err := strconv.Atoi(v); err == nil {
			hi = n
		} else {
			t.Fatalf("xsd: maxOccurs %q", v)
		}
	}
	return lo, hi
}

// particle matches kids from i on and returns where it stopped.
func (s *xsd) particle(p *xnode, kids []*xnode, i int, path string) int {
	lo, hi := occurs(s.t, p)
	switch p.XMLName.Local {
	case "element":
		name, _ := p.attr("name")
		n := 0
		for i < len(kids) && n < hi && kids[i].XMLName.Local == name {
			s.element(p, kids[i], fmt.Sprintf("%s/%s[%d]", path, name, n))
			i++
			n++
		}
		if n < lo {
			s.fail(path, "<%s> must occur at least %d times, found %d", name, lo, n)
		}
	case "sequence":
		if lo != 1 || hi != 1 {
			s.t.Fatal("xsd: repeated sequence not supported")
		}
		for _, item := range p.kids() {
			i = s.particle(item, kids, i, path)
		}
	case "choice":
		n := 0
		for n < hi && i < len(kids) {
			var alt *xnode
			for _, a := range p.kids() {
				if a.XMLName.Local != "element" {
					s.t.Fatal("xsd: choice of non-elements not supported")
				}
				if name, _ := a.attr("name"); name == kids[i].XMLName.Local {
					alt = a
				}
			}
			if alt == nil {
				break
			}
			i = s.particle(alt, kids, i, path)
			n++
		}
		if n < lo {
			s.fail(path, "choice must occur at least %d times", lo)
		}
	default:
		s.t.Fatalf("xsd: particle %s not supported", p.XMLName.Local)
	}
	return i
}

func (s *xsd) attributes(decls []*xnode, el *xnode, path string) {
	declared := map[string]bool{}
	for _, d := range decls {
		name, _ := d.attr("name")
		declared[name] = true
		v, present := el.attr(name)
		if use, _ := d.attr("use"); use == "required" && !present {
			s.fail(path, "attribute %s is required", name)
		}
		if !present {
			continue
		}
		typ, _ := d.attr("type")
		var inline *xnode
		if k := d.kids(); len(k) == 1 && k[0].XMLName.Local == "simpleType" {
			inline = k[0]
		} else if len(k) > 0 {
			s.t.Fatalf("xsd: attribute content %s not supported", k[0].XMLName.Local)
		}
		if typ == "" && inline == nil {
			typ = "xs:string" // no type: anySimpleType
		}
		if err := s.value(typ, inline, v); err != nil {
			s.fail(path, "attribute %s: %v", name, err)
		}
	}
	for _, a := range el.Attrs {
		if a.Name.Space == "" && a.Name.Local != "xmlns" && !declared[a.Name.Local] {
			s.fail(path, "attribute %s is not declared", a.Name.Local)
		}
	}
}

var builtin = map[string]*regexp.Regexp{
	"xs:int":      regexp.MustCompile(`^[+-]?[0-9]+$`),
	"xs:decimal":  regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`),
	"xs:dateTime": regexp.MustCompile(`^-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$`),
}

// value checks v against a named type or an inline simpleType; it returns
// the value as the type sees it (whitespace collapsed for tokens).
func (s *xsd) value(typ string, inline *xnode, v string) error {
	_, err := s.valueOf(typ, inline, v)
	return err
}

func (s *xsd) valueOf(typ string, inline *xnode, v string) (string, error) {
	if inline == nil && !strings.HasPrefix(typ, "xs:") {
		inline = s.simple[typ]
		if inline == nil {
			s.t.Fatalf("xsd: unknown simple type %q", typ)
		}
	}
	if inline == nil {
		switch typ {
		case "xs:string":
			return v, nil
		case "xs:token":
			return strings.Join(strings.Fields(v), " "), nil
		}
		re := builtin[typ]
		if re == nil {
			s.t.Fatalf("xsd: built-in type %s not supported", typ)
		}
		c := strings.TrimSpace(v)
		if !re.MatchString(c) {
			return c, fmt.Errorf("%q is not an %s", v, typ)
		}
		if typ == "xs:int" {
			if _, err := strconv.ParseInt(c, 10, 32); err != nil {
				return c, fmt.Errorf("%q is out of range of xs:int", v)
			}
		}
		return c, nil
	}
	r := only(s.t, inline, "restriction")
	base, _ := r.attr("base")
	val, err := s.valueOf(base, nil, v)
	if err != nil {
		return val, err
	}
	for _, f := range r.kids() {
		fv, _ := f.attr("value")
		switch f.XMLName.Local {
		case "pattern":
			if !regexp.MustCompile(`^(?:` + fv + `)$`).MatchString(val) {
				return val, fmt.Errorf("%q does not match %s", v, fv)
			}
		case "minLength":
			n, _ := strconv.Atoi(fv)
			if len([]rune(val)) < n {
				return val, fmt.Errorf("%q is shorter than %d", v, n)
			}
		case "whiteSpace":
		default:
			s.t.Fatalf("xsd: facet %s not supported", f.XMLName.Local)
		}
	}
	return val, nil
}

// The validator itself has to catch what the schema forbids, or passing
// documents prove nothing.
func TestXSDValidatorRejects(t *testing.T) {
	s := loadXSD(t, "testdata/schemas/JUnit.xsd")
	good := `<testsuites><testsuite package="p" id="0" name="n" timestamp="2026-01-02T03:04:05" hostname="h" tests="1" failures="1" errors="0" time="0">
<properties/><testcase name="a" classname="c" time="0"><failure type="t" message="m">x</failure></testcase><system-out/><system-err/></testsuite></testsuites>`
	if errs := s.validate([]byte(good)); len(errs) != 0 {
		t.Fatalf("a valid document was refused: %v", errs)
	}
	for name, doc := range map[string]string{
		"missing required attribute": strings.Replace(good, ` hostname="h"`, "", 1),
		"timestamp with a zone":      strings.Replace(good, "03:04:05", "03:04:05Z", 1),
		"not an int":                 strings.Replace(good, `tests="1"`, `tests="one"`, 1),
		"two failures":               strings.Replace(good, `</failure>`, `</failure><failure type="t">y</failure>`, 1),
		"unknown attribute":          strings.Replace(good, `<testcase `, `<testcase foo="bar" `, 1),
		"missing system-err":         strings.Replace(good, `<system-err/>`, "", 1),
		"element out of order":       strings.Replace(strings.Replace(good, `<properties/>`, "", 1), `<system-out/>`, `<system-out/><properties/>`, 1),
		"failure without type":       strings.Replace(good, `type="t" `, "", 1),
		"empty name":                 strings.Replace(good, `name="n"`, `name="  "`, 1),
		"text in element content":    strings.Replace(good, `<properties/>`, `<properties/>stray`, 1),
	} {
		if errs := s.validate([]byte(doc)); len(errs) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}
