package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/claimtrail/claimtrail/rules"
)

// positions records where each key of a configuration was set, by path
// ("rules.partner_domains[1]", "tenants[0].domains[2]").
type positions struct {
	file     string
	at       map[string]string // path -> "file:line" or "$ENV_NAME"
	env      map[string]bool   // paths set from the environment
	fileRefs []fileRef         // secrets to read from files (*_file keys)
}

// fileRef is a *_file key: the secret at path is to be read from file.
type fileRef struct {
	path  string // of the secret, e.g. "store.secret_key"
	file  string
	where string
}

func newPositions() *positions {
	return &positions{at: map[string]string{}, env: map[string]bool{}}
}

// set records path's line unless it is known: a key's own line wins over
// its value's, which may start on the next line.
func (p *positions) set(path string, line int) {
	if _, ok := p.at[path]; path != "" && !ok {
		p.at[path] = fmt.Sprintf("%s:%d", p.file, line)
	}
}

func (p *positions) setEnv(path, name string) {
	p.at[path] = "$" + name
	p.env[path] = true
}

func (p *positions) fromEnv(path string) bool { return p.env[path] }

// where says where path was set; for a path never set, where its nearest
// parent was set, or else the file.
func (p *positions) where(path string) string {
	for k := path; k != ""; k = parentPath(k) {
		if s, ok := p.at[k]; ok {
			return s
		}
	}
	return p.file
}

// setTenantSources points t's Source and DomainSources at the lines of the
// tenant declared at path ("tenants[3]"), for rules.New's errors.
func (p *positions) setTenantSources(t *rules.Tenant, path string) {
	t.Source = p.where(path)
	t.DomainSources = make([]string, len(t.Domains))
	for k := range t.Domains {
		t.DomainSources[k] = p.where(fmt.Sprintf("%s.domains[%d]", path, k))
	}
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// parentPath returns "a.b" for "a.b.c" and "a.b[2]", "" for "a".
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeStrict decodes the single YAML document in data into out (a
// pointer to a struct), refusing unknown and duplicate keys, values of the
// wrong kind, and aliases, with errors of the form `name:7: unknown key
// "rulez"`. It records every key's position in pos.
func decodeStrict(name string, data []byte, root string, out any, pos *positions) error {
	pos.file = name
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: the file is empty; see testdata/config.yaml in claimtrail's source for an example", name)
		}
		return syntaxError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fmt.Errorf("%s:%d: a second YAML document (after ---); put everything in one", name, extra.Line)
	} else if !errors.Is(err, io.EOF) {
		return syntaxError(name, err)
	}
	if len(doc.Content) == 0 {
		return fmt.Errorf("%s: the file is empty; see testdata/config.yaml in claimtrail's source for an example", name)
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: the file must be a mapping of keys (\"key: value\" lines), not %s", name, top.Line, kindName(top))
	}
	c := checker{pos: pos}
	c.check(top, reflect.TypeOf(out).Elem(), root)
	if err := errors.Join(c.errs...); err != nil {
		return err
	}
	if err := top.Decode(out); err != nil {
		// The checks above catch what yaml would refuse; this is a backstop.
		var te *yaml.TypeError
		if errors.As(err, &te) {
			errs := make([]error, len(te.Errors))
			for i, s := range te.Errors {
				errs[i] = syntaxError(name, errors.New("yaml: "+s))
			}
			return errors.Join(errs...)
		}
		return syntaxError(name, err)
	}
	return nil
}

// syntaxError rewrites yaml's "yaml: line 7: ..." as "name:7: ...".
func syntaxError(name string, err error) error {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: %s", name, m[1], m[2])
	}
	return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
}

// checker walks a YAML node tree beside the Go type it will be decoded
// into, collecting every problem rather than stopping at the first.
type checker struct {
	pos  *positions
	errs []error
}

func (c *checker) errorf(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	c.errs = append(c.errs, fmt.Errorf("%s:%d: %s", c.pos.file, n.Line, msg))
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (c *checker) check(n *yaml.Node, t reflect.Type, path string) {
	c.pos.set(path, n.Line)
	if n.Kind == yaml.AliasNode {
		c.errorf(n, path, "aliases (*%s) are not supported in claimtrail's configuration; write the value out", n.Value)
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return // the type checks itself when decoded
	}
	null := n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	if t == durationType {
		// yaml.v3 reads "90s" into a time.Duration (and a bare number as
		// nanoseconds, which nobody means).
		if !null {
			if _, err := time.ParseDuration(n.Value); n.Kind != yaml.ScalarNode || err != nil {
				c.errorf(n, path, "%s is not a duration such as 5s, 90s or 2m", describe(n))
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if null {
			return
		}
		if n.Kind != yaml.MappingNode {
			c.errorf(n, path, "want a mapping (\"key: value\" lines), found %s", kindName(n))
			return
		}
		c.checkStruct(n, t, path)
	case reflect.Map:
		if null {
			return
		}
		if n.Kind != yaml.MappingNode {
			c.errorf(n, path, "want a mapping (\"key: value\" lines), found %s", kindName(n))
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if !c.uniqueKey(seen, k, path) {
				continue
			}
			child := joinPath(path, k.Value)
			c.pos.set(child, k.Line)
			c.check(v, t.Elem(), child)
		}
	case reflect.Slice, reflect.Array:
		if null {
			return
		}
		if n.Kind != yaml.SequenceNode {
			c.errorf(n, path, "want a list ([a, b] or lines starting with \"- \"), found %s", kindName(n))
			return
		}
		for i, item := range n.Content {
			c.check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Bool:
		if !null && (n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool") {
			c.errorf(n, path, "%s is not true or false", describe(n))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !null && (n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int") {
			c.errorf(n, path, "%s is not a whole number", describe(n))
		}
	case reflect.Float32, reflect.Float64:
		if !null && (n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float")) {
			c.errorf(n, path, "%s is not a number", describe(n))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			c.errorf(n, path, "want a single value, found %s", kindName(n))
		}
	}
}

func (c *checker) checkStruct(n *yaml.Node, t reflect.Type, path string) {
	fields := yamlFields(t)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !c.uniqueKey(seen, k, path) {
			continue
		}
		key := k.Value
		if f, ok := fields[key]; ok {
			child := joinPath(path, key)
			c.pos.set(child, k.Line)
			c.check(v, f.typ, child)
			continue
		}
		if stem, ok := strings.CutSuffix(key, "_file"); ok {
			if f, ok := fields[stem]; ok && f.typ.Kind() == reflect.String && isSecretKey(stem) {
				if v.Kind != yaml.ScalarNode || v.Value == "" {
					c.errorf(v, joinPath(path, key), "want the path of a file holding %s", stem)
					continue
				}
				c.pos.fileRefs = append(c.pos.fileRefs, fileRef{
					path: joinPath(path, stem), file: v.Value,
					where: fmt.Sprintf("%s:%d", c.pos.file, k.Line),
				})
				continue
			} else if ok {
				c.errorf(k, "", "unknown key %q%s; only secrets can be read from a file: write %s itself", key, inPath(path), stem)
				continue
			}
		}
		c.errorf(k, "", "unknown key %q%s", key, suggestKey(key, path, fields))
	}
}

// uniqueKey reports whether k is the first of its name in a mapping.
func (c *checker) uniqueKey(seen map[string]int, k *yaml.Node, path string) bool {
	if k.Kind != yaml.ScalarNode {
		c.errorf(k, path, "keys must be plain names, found %s", kindName(k))
		return false
	}
	if first, dup := seen[k.Value]; dup {
		c.errorf(k, "", "duplicate key %q%s (first at line %d); keep one", k.Value, inPath(path), first)
		return false
	}
	seen[k.Value] = k.Line
	return true
}

func inPath(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}

// suggestKey says where an unknown key was found and what was probably
// meant.
func suggestKey(key, path string, fields map[string]field) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	best, bestDist := "", 3
	for _, name := range names {
		if d := editDistance(strings.ToLower(key), name); d < bestDist {
			best, bestDist = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf("%s; did you mean %q?", inPath(path), best)
	}
	return fmt.Sprintf("%s; the keys here are %s", inPath(path), strings.Join(names, ", "))
}

// editDistance is the optimal-string-alignment distance (Levenshtein plus
// transpositions, as in "domian"), for short key names.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// field is one YAML key of a struct.
type field struct {
	typ   reflect.Type
	index []int
}

// yamlFields maps the YAML keys of struct type t to its fields, following
// yaml.v3's rules: the tag's name, else the lower-cased field name; "-"
// skipped; ",inline" structs flattened.
func yamlFields(t reflect.Type) map[string]field {
	out := map[string]field{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, sub := range yamlFields(ft) {
					out[k] = field{typ: sub.typ, index: append([]int{i}, sub.index...)}
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = field{typ: f.Type, index: []int{i}}
	}
	return out
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		return describe(n)
	}
	return "nothing"
}

func describe(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return kindName(n)
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return fmt.Sprintf("%q", v)
}
