package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/internal/core"
)

// This file renders `check` results for CI systems: JUnit XML for test
// report views, SARIF 2.1.0 for code-scanning views. It is the only place
// the CI formats read the check registry (ruleCatalog, knownCheck).

// outputFormats are the values of `check -o`.
var outputFormats = []string{"text", "json", "junit", "sarif"}

// writeResults renders results in format; now stamps the JUnit suites.
func writeResults(w io.Writer, format string, results []CheckResult, now time.Time) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string][]CheckResult{"results": results})
	case "junit":
		return writeJUnit(w, results, now)
	case "sarif":
		return writeSARIF(w, results)
	}
	printText(w, results)
	return nil
}

// rule is one check as the CI formats describe it.
type rule struct {
	ID          string
	Kinds       []string
	Default     string
	Description string
}

// internalRule describes gatewarden's findings about itself (an object it
// could not judge): they carry the check ID "gatewarden".
var internalRule = rule{ID: "gatewarden", Default: "warn",
	Description: "gatewarden could not check the object (an API version it does not know, or checks that did not finish)"}

// ruleCatalog is every check of the registry, sorted by ID, and the
// internal rule.
func ruleCatalog() []rule {
	var out []rule
	for _, c := range core.Catalog() {
		out = append(out, rule{ID: c.ID, Kinds: c.Kinds, Default: string(c.Default), Description: c.Description})
	}
	return append(out, internalRule)
}

// knownCheck says whether id names a check (or gatewarden's own findings).
func knownCheck(id string) bool {
	if id == internalRule.ID {
		return true
	}
	_, ok := core.Lookup(id)
	return ok
}

func findingIDs(fs []core.Finding) []string {
	ids := make([]string, 0, len(fs))
	for _, f := range fs {
		ids = append(ids, f.Check)
	}
	return ids
}

// sourceFile and sourceLine split a manifest source ("file:line"); stored
// objects have none.
func sourceFile(src string) (string, int) {
	i := strings.LastIndex(src, ":")
	if i < 0 {
		return src, 0
	}
	n, err := strconv.Atoi(src[i+1:])
	if err != nil {
		return src, 0
	}
	return src[:i], n
}

// objectName names an object in reports: Kind namespace/name.
func objectName(r CheckResult) string {
	return fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name)
}

// --- JUnit -----------------------------------------------------------------

// The JUnit XML of Apache Ant's junit task, which CI test views read: one
// testsuite per input file (per namespace for stored objects), one testcase
// per checked object, a failure listing its violations. The Ant schema has
// no per-testcase output, so warnings go to the suite's system-out, one line
// per warning, prefixed with the object. Times are not measured and are 0.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Package    string          `xml:"package,attr"`
	ID         int             `xml:"id,attr"`
	Name       string          `xml:"name,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out"`
	SystemErr  string          `xml:"system-err"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// xmlToken makes s an xs:token: no line breaks or tabs, no runs of spaces,
// nothing leading or trailing.
func xmlToken(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func writeJUnit(w io.Writer, results []CheckResult, now time.Time) error {
	host, err := os.Hostname()
	if err != nil || xmlToken(host) == "" {
		host = "localhost"
	}
	var order []string
	suites := map[string]*junitSuite{}
	for _, r := range results {
		name := "namespace " + r.Namespace
		if r.Source != "" {
			name, _ = sourceFile(r.Source)
		}
		name = xmlToken(name)
		s := suites[name]
		if s == nil {
			s = &junitSuite{Package: "gatewarden", ID: len(order), Name: name, Hostname: xmlToken(host),
				Timestamp: now.UTC().Format("2006-01-02T15:04:05"), Time: "0",
				Properties: []junitProperty{{Name: "gatewarden.version", Value: version}}}
			suites[name] = s
			order = append(order, name)
		}
		s.Tests++
		tc := junitCase{Name: xmlToken(r.Namespace + "/" + r.Name), Classname: xmlToken(classname(r)), Time: "0"}
		if len(r.Violations) > 0 {
			s.Failures++
			lines := make([]string, 0, len(r.Violations))
			for _, v := range r.Violations {
				lines = append(lines, v.String())
			}
			msg := r.Violations[0].String()
			if len(r.Violations) > 1 {
				msg = fmt.Sprintf("%d violations; the first: %s", len(r.Violations), msg)
			}
			tc.Failure = &junitFailure{Message: msg, Type: "denied", Text: strings.Join(lines, "\n")}
		}
		for _, wn := range r.Warnings {
			s.SystemOut += fmt.Sprintf("%s: Warning: %s\n", objectName(r), wn)
		}
		s.Cases = append(s.Cases, tc)
	}
	doc := junitSuites{}
	for _, name := range order {
		doc.Suites = append(doc.Suites, *suites[name])
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// classname is the kind with its API group, the way JUnit views group test
// cases: networking.istio.io.Gateway.
func classname(r CheckResult) string {
	if g := groupOf(r.APIVersion); g != "" {
		return g + "." + r.Kind
	}
	return r.Kind
}

// --- SARIF -----------------------------------------------------------------

// SARIF 2.1.0 (OASIS), as code-scanning views read it: one run, the check
// catalogue as rules, one result per finding with the file and the line its
// object starts at.
const sarifSchema = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name    string      `json:"name"`
	Version string      `json:"version"`
	Rules   []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string              `json:"id"`
	ShortDescription     sarifText           `json:"shortDescription"`
	FullDescription      sarifText           `json:"fullDescription"`
	Help                 sarifText           `json:"help"`
	DefaultConfiguration sarifConfiguration  `json:"defaultConfiguration"`
	Properties           sarifRuleProperties `json:"properties"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifRuleProperties struct {
	Tags []string `json:"tags"`
}

type sarifResult struct {
	RuleID     string            `json:"ruleId"`
	RuleIndex  int               `json:"ruleIndex"`
	Level      string            `json:"level"`
	Message    sarifText         `json:"message"`
	Locations  []sarifLocation   `json:"locations"`
	Properties map[string]string `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// sarifLevel maps a check action to a SARIF level.
func sarifLevel(action string) string {
	switch action {
	case "deny":
		return "error"
	case "warn":
		return "warning"
	}
	return "none"
}

// fileURI is a manifest path as a SARIF artifact URI: relative paths stay
// relative (to the directory check ran in, where code-scanning uploads
// resolve them), absolute ones become file URIs. Standard input has none.
func fileURI(path string) string {
	if path == "" || path == "<stdin>" {
		return ""
	}
	slashed := filepath.ToSlash(path)
	segs := strings.Split(slashed, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u := strings.Join(segs, "/")
	if filepath.IsAbs(path) {
		return "file://" + u
	}
	return u
}

func writeSARIF(w io.Writer, results []CheckResult) error {
	rules := ruleCatalog()
	index := map[string]int{}
	var srules []sarifRule
	addRule := func(r rule) int {
		if i, ok := index[r.ID]; ok {
			return i
		}
		tags := append([]string{}, r.Kinds...)
		sort.Strings(tags)
		help := fmt.Sprintf("%s\n\nDefault action: %s. Set checks.%s to deny, warn or off in the gatewarden config file to change it.", r.Description, r.Default, r.ID)
		srules = append(srules, sarifRule{
			ID:                   r.ID,
			ShortDescription:     sarifText{Text: firstSentence(r.Description)},
			FullDescription:      sarifText{Text: r.Description},
			Help:                 sarifText{Text: help, Markdown: fmt.Sprintf("%s\n\nDefault action: `%s`. Set `checks.%s` to `deny`, `warn` or `off` in the gatewarden config file to change it.", r.Description, r.Default, r.ID)},
			DefaultConfiguration: sarifConfiguration{Level: sarifLevel(r.Default)},
			Properties:           sarifRuleProperties{Tags: append(tags, "gatewarden")},
		})
		index[r.ID] = len(srules) - 1
		return len(srules) - 1
	}
	for _, r := range rules {
		addRule(r)
	}
	out := []sarifResult{}
	for _, r := range results {
		loc := sarifLocation{LogicalLocations: []sarifLogical{{
			Name:               r.Name,
			FullyQualifiedName: fmt.Sprintf("%s/%s/%s", classname(r), r.Namespace, r.Name),
			Kind:               "resource",
		}}}
		if file, line := sourceFile(r.Source); fileURI(file) != "" {
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{URI: fileURI(file)}}
			if line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: line}
			}
		}
		add := func(level string, fs []core.Finding) {
			for _, f := range fs {
				i, ok := index[f.Check]
				if !ok {
					i = addRule(rule{ID: f.Check, Default: "deny", Description: "check " + f.Check})
				}
				res := sarifResult{RuleID: f.Check, RuleIndex: i, Level: level,
					Message:   sarifText{Text: fmt.Sprintf("%s: %s", objectName(r), f.String())},
					Locations: []sarifLocation{loc}}
				if f.Field != "" {
					res.Properties = map[string]string{"field": f.Field}
				}
				out = append(out, res)
			}
		}
		add("error", r.Violations)
		add("warning", r.Warnings)
	}
	log := sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{{
		Tool:    sarifTool{Driver: sarifDriver{Name: "gatewarden", Version: version, Rules: srules}},
		Results: out,
	}}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// firstSentence shortens a description for SARIF's shortDescription.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}
