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
	if err == nil {
		return p, nil
	}
	var errs []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	} else {
		errs = []error{err}
	}
	for i, e := range errs {
		key, _, ok := strings.Cut(e.Error(), ":")
		if ok && !strings.ContainsAny(key, " /\\.") && key == strings.ToLower(key) {
			if _, isRulesKey := yamlFields(reflect.TypeOf(c.Rules))[key]; isRulesKey {
				errs[i] = fmt.Errorf("%s: rules.%w", c.where("rules."+key), e)
			}
		}
	}
	return nil, errors.Join(errs...)
}
