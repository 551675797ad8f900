package main

import (
	"encoding"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/claimtrail/claimtrail/archive"
)

// envPrefix starts every environment override: CLAIMTRAIL_<SECTION>_<KEY>,
// e.g. CLAIMTRAIL_RULES_EXCHANGE_ONLINE=true or CLAIMTRAIL_STORE_SECRET_KEY.
const envPrefix = "CLAIMTRAIL_"

// secretWords mark a key as a secret: it may come from a *_file key or a
// CLAIMTRAIL_..._FILE variable and is printed as <redacted>. A webhook's
// URL is one: whoever knows it can post to the channel. A DSN may hold a
// database password (ledger.dsn); it is printed with the password alone
// redacted (archive.RedactDSN), so that where it points stays visible.
var secretWords = []string{"password", "passphrase", "secret", "token", "api_key", "private_key", "webhook_url", "dsn"}

func isSecretKey(key string) bool {
	key = strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}

const redacted = "<redacted>"

// envName is the variable that overrides the key at envPath, a YAML path
// whose list entries are named by their name key ("mailboxes.shared.password"):
// CLAIMTRAIL_ and the path in upper case, each run of other characters than
// letters and digits an underscore.
func envName(envPath string) string {
	var b strings.Builder
	b.WriteString(envPrefix)
	sep := false
	for _, r := range strings.ToUpper(envPath) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			if sep {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			sep = false
		} else {
			sep = b.Len() > len(envPrefix)
		}
	}
	return b.String()
}

// applyEnv overrides the scalar keys of out (a pointer to a struct) from
// the environment: top-level keys, the keys of sections (nested structs),
// and the keys of list entries that have a name key, by that name:
// CLAIMTRAIL_MAILBOXES_SHARED_PASSWORD is the password of the mailbox named
// shared. A list takes comma-separated values; a duration (time.Duration
// or a type with UnmarshalText, such as ingest.Duration) takes Go's syntax,
// "90s", as in the file. A secret key also has a _FILE variable naming a
// file to read it from. Variables win over the file.
func applyEnv(out any, pos *positions, lookup func(string) (string, bool), readFile func(string) ([]byte, error)) error {
	var errs []error
	walkScalars(reflect.ValueOf(out).Elem(), "", "", func(v reflect.Value, path, envPath string) {
		name := envName(envPath)
		val, ok := lookup(name)
		if isSecretKey(path[strings.LastIndex(path, ".")+1:]) {
			if file, fok := lookup(name + "_FILE"); fok {
				if ok {
					errs = append(errs, fmt.Errorf("$%s and $%s_FILE are both set; unset one", name, name))
					return
				}
				s, err := readSecretFile(file, readFile)
				if err != nil {
					errs = append(errs, fmt.Errorf("$%s_FILE: %w", name, err))
					return
				}
				val, ok = s, true
				name += "_FILE"
			}
		}
		if !ok {
			return
		}
		if err := setScalar(v, val); err != nil {
			errs = append(errs, fmt.Errorf("$%s: %w", name, err))
			return
		}
		pos.setEnv(path, name)
	})
	return errors.Join(errs...)
}

// walkScalars calls fn for each settable scalar or string list in v, in its
// nested structs and in the entries of its lists of structs that have a
// name, with its YAML path ("mailboxes[0].password") and the path its
// variable is named by ("mailboxes.shared.password"). A type that parses
// its own text (encoding.TextUnmarshaler) and time.Duration count as
// scalars, whatever their kind.
func walkScalars(v reflect.Value, path, envPath string, fn func(v reflect.Value, path, envPath string)) {
	for key, f := range yamlFields(v.Type()) {
		fv := v.FieldByIndex(f.index)
		p, e := joinPath(path, key), joinPath(envPath, key)
		if parsesText(fv) {
			fn(fv, p, e)
			continue
		}
		switch fv.Kind() {
		case reflect.Struct:
			walkScalars(fv, p, e, fn)
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int32, reflect.Int64:
			fn(fv, p, e)
		case reflect.Pointer:
			// An optional scalar (dkim.verify, a *bool): set only when
			// its variable is.
			switch fv.Type().Elem().Kind() {
			case reflect.String, reflect.Bool, reflect.Int, reflect.Int32, reflect.Int64:
				fn(fv, p, e)
			}
		case reflect.Slice:
			switch fv.Type().Elem().Kind() {
			case reflect.String:
				fn(fv, p, e)
			case reflect.Struct:
				for i := range fv.Len() {
					entry := fv.Index(i)
					name := entryName(entry)
					if name == "" {
						continue
					}
					ep := fmt.Sprintf("%s[%d]", p, i)
					walkScalars(entry, ep, joinPath(e, name), func(v reflect.Value, path, envPath string) {
						if path != ep+".name" { // the name names the variables
							fn(v, path, envPath)
						}
					})
				}
			}
		}
	}
}

// entryName is the value of a list entry's name key, "" if it has none.
func entryName(entry reflect.Value) string {
	f, ok := yamlFields(entry.Type())["name"]
	if !ok {
		return ""
	}
	if v := entry.FieldByIndex(f.index); v.Kind() == reflect.String {
		return v.String()
	}
	return ""
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
)

// parsesText reports whether v is set from its text form rather than by
// its kind: an int64 that is a time.Duration takes "90s", not 90000000000.
func parsesText(v reflect.Value) bool {
	return v.Type() == durationType || (v.CanAddr() && v.Addr().Type().Implements(textUnmarshalerType))
}

// setScalar parses s into v as walkScalars' kinds allow.
func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 90s or 5m", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	if v.CanAddr() {
		if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
			return u.UnmarshalText([]byte(s))
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := setScalar(p.Elem(), s); err != nil {
			return err
		}
		v.Set(p)
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(n)
	case reflect.Slice:
		var list []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		l := reflect.MakeSlice(v.Type(), len(list), len(list))
		for i, item := range list {
			l.Index(i).SetString(item)
		}
		v.Set(l)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// resolveSecretFiles reads the secrets that *_file keys name, relative to
// dir, into out.
func resolveSecretFiles(out any, pos *positions, dir string, readFile func(string) ([]byte, error)) error {
	var errs []error
	for _, ref := range pos.fileRefs {
		key := ref.path[strings.LastIndex(ref.path, ".")+1:]
		v, ok := valueAtPath(reflect.ValueOf(out).Elem(), ref.path)
		if !ok || v.Kind() != reflect.String {
			errs = append(errs, fmt.Errorf("%s: %s_file: cannot be read from a file", ref.where, ref.path))
			continue
		}
		if v.String() != "" {
			errs = append(errs, fmt.Errorf("%s: %s_file: %s is set too (at %s); keep one of %s and %s_file", ref.where, ref.path, key, pos.where(ref.path), key, key))
			continue
		}
		file := ref.file
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		s, err := readSecretFile(file, readFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s_file: %w", ref.where, ref.path, err))
			continue
		}
		v.SetString(s)
		pos.at[ref.path] = ref.where
	}
	return errors.Join(errs...)
}

// readSecretFile reads a secret, dropping the line end editors and
// `echo` leave behind.
func readSecretFile(path string, readFile func(string) ([]byte, error)) (string, error) {
	b, err := readFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// valueAtPath finds the field at a dotted YAML path with [i] indexes.
func valueAtPath(v reflect.Value, path string) (reflect.Value, bool) {
	for part := range strings.SplitSeq(path, ".") {
		name, rest, _ := strings.Cut(part, "[")
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		f, ok := yamlFields(v.Type())[name]
		if !ok {
			return reflect.Value{}, false
		}
		v = v.FieldByIndex(f.index)
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(idx)
			if err != nil || (v.Kind() != reflect.Slice && v.Kind() != reflect.Array) || i < 0 || i >= v.Len() {
				return reflect.Value{}, false
			}
			v = v.Index(i)
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return v, true
}

// redactedYAML renders v as YAML with the value of every secret key
// replaced by <redacted>.
func redactedYAML(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<unprintable config: %v>", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return fmt.Sprintf("<unprintable config: %v>", err)
	}
	redactNode(&n)
	out, err := yaml.Marshal(&n)
	if err != nil {
		return fmt.Sprintf("<unprintable config: %v>", err)
	}
	return string(out)
}

func redactNode(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if strings.EqualFold(k.Value, "dsn") && v.Kind == yaml.ScalarNode {
				v.Value = archive.RedactDSN(v.Value)
				continue
			}
			if isSecretKey(k.Value) && v.Kind == yaml.ScalarNode && v.Value != "" {
				v.Value, v.Tag, v.Style = redacted, "!!str", 0
				continue
			}
			redactNode(v)
		}
		return
	}
	for _, c := range n.Content {
		redactNode(c)
	}
}
