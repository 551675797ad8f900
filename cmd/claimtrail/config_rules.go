package main

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/claimtrail/claimtrail/rules"
)

// Policy compiles the rules section and the tenants into a rules.Policy.
// rules.New names tenant problems by Tenant.Source; its errors about the
// rules section name only the key, so they get the key's place here.
func (c *Config) Policy() (*rules.Policy, error) {
	p, err := rules.New(c.Rules, c.Tenants)
	if err != nil {
		return nil, errors.Join(c.placeErrors("rules", err)...)
	}
	return p, nil
}

// placeErrors places the errors of a section's own validation, which name
// keys relative to the section ("endpoint: missing"), at the line where
// the key was set: "config.yaml:12: store.endpoint: missing". Errors that
// name no key of the section get the section's place. err may hold several
// errors (errors.Join); nil gives nil.
func (c *Config) placeErrors(section string, err error) []error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	var keys map[string]field
	if f, ok := yamlFields(reflect.TypeOf(*c))[section]; ok && f.typ.Kind() == reflect.Struct {
		keys = yamlFields(f.typ)
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		msg := e.Error()
		if key, _, ok := strings.Cut(msg, ":"); ok {
			if _, isKey := keys[key]; isKey {
				out = append(out, fmt.Errorf("%s: %s.%w", c.where(section+"."+key), section, e))
				continue
			}
		}
		if c.placed(msg) {
			out = append(out, e)
			continue
		}
		out = append(out, fmt.Errorf("%s: %s: %w", c.where(section), section, e))
	}
	return out
}

// placed reports whether msg already starts with a place: a tenant's
// Source or DomainSources, as rules.New writes them.
func (c *Config) placed(msg string) bool {
	for _, t := range c.Tenants {
		for _, src := range append([]string{t.Source}, t.DomainSources...) {
			if src != "" && strings.HasPrefix(msg, src+":") {
				return true
			}
		}
	}
	return false
}
