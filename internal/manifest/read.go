// Package manifest reads Kubernetes objects from files the way kubectl does:
// files, directories (recursively), stdin, multi-document YAML or JSON, and
// `kind: List`. Errors name the file, the line a broken document starts at
// and its position in the file. A document without apiVersion or kind, or
// with a kind or version that does not exist in a group gatewarden checks
// (a typo, which would otherwise go unchecked without a word), is an error.
package manifest

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Object is one object and where it was read.
type Object struct {
	*unstructured.Unstructured
	Raw    []byte // the object as JSON
	Source string // file:line
}

// MaxFileBytes bounds one input file; manifests are small and a runaway
// input must not exhaust memory.
const MaxFileBytes = 32 << 20

// Read reads every path ("-" is stdin).
func Read(paths []string, stdin io.Reader) ([]Object, error) {
	var out []Object
	for _, p := range paths {
		if p == "-" {
			objs, err := parse("<stdin>", io.LimitReader(stdin, MaxFileBytes+1))
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
			continue
		}
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return nil, err
			}
			objs, err := parse(f, io.LimitReader(fh, MaxFileBytes+1))
			fh.Close()
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func expand(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func parse(name string, r io.Reader) ([]Object, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxFileBytes)
	}
	var out []Object
	index := 0
	for _, d := range splitDocs(data) {
		doc, start := d.body, d.line
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		index++
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s", name, docLine(start, err), err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		src := fmt.Sprintf("%s:%d", name, start)
		where := fmt.Sprintf("%s (document %d)", src, index)
		if err := checkTypeMeta(js); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("%s: not a Kubernetes object: %v", where, err)
		}
		if u.IsList() {
			l, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
			for i := range l.Items {
				item := &l.Items[i]
				raw, err := item.MarshalJSON()
				if err != nil {
					return nil, fmt.Errorf("%s: items[%d]: %v", where, i, err)
				}
				if err := checkTypeMeta(raw); err != nil {
					return nil, fmt.Errorf("%s: items[%d]: %v", where, i, err)
				}
				if err := checkKind(item.GroupVersionKind()); err != nil {
					return nil, fmt.Errorf("%s: items[%d]: %v", where, i, err)
				}
				out = append(out, Object{Unstructured: item, Raw: raw, Source: src})
			}
			continue
		}
		if err := checkKind(u.GroupVersionKind()); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		out = append(out, Object{Unstructured: u, Raw: js, Source: src})
	}
	return out, nil
}

// docLine turns a YAML error's document-relative line into a file line.
func docLine(start int, err error) int {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			return start + n - 1
		}
	}
	return start
}

type document struct {
	body []byte
	line int // 1-based line of the document's first line in the file
}

// splitDocs splits a YAML stream on `---` lines, remembering where each
// document starts so errors can point into the file.
func splitDocs(data []byte) []document {
	var docs []document
	cur := document{line: 1}
	lines := strings.SplitAfter(string(data), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "---") && strings.TrimSpace(strings.TrimPrefix(l, "---")) == "" {
			docs = append(docs, cur)
			cur = document{line: i + 2}
			continue
		}
		cur.body = append(cur.body, l...)
	}
	return append(docs, cur)
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(l)
		if t == "---" || strings.HasPrefix(t, "#") {
			continue
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}
