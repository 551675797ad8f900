package main

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/claimtrail/claimtrail/archive"
)

// openConfiguredStore opens the object store that the configuration file at
// configPath names in its store section.
func openConfiguredStore(ctx context.Context, configPath string) (bundleStore, error) {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return nil, err
	}
	sc, _, ok := storeSection(cfg)
	if !ok {
		return nil, fmt.Errorf("%s: this claimtrail's configuration has no store section, so it cannot fetch keys; "+
			"open the bundle's file instead (a directory store keeps it at <dir>/bundles/<sha256>/<n>.zip)", configPath)
	}
	return archive.OpenStore(ctx, sc)
}

// storeSection finds the store section of a configuration struct: its
// field of type archive.StoreConfig (or a pointer to one), and the field's
// yaml key. It is found by type, as the config loader finds sections by
// reflection, so that where the section sits is Config's business alone.
func storeSection(cfg any) (archive.StoreConfig, string, bool) {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return archive.StoreConfig{}, "", false
	}
	want := reflect.TypeFor[archive.StoreConfig]()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		switch {
		case sf.Type == want:
			return f.Interface().(archive.StoreConfig), key, true
		case sf.Type == reflect.PointerTo(want):
			if f.IsNil() {
				return archive.StoreConfig{}, key, true // the section's defaults
			}
			return *f.Interface().(*archive.StoreConfig), key, true
		}
	}
	return archive.StoreConfig{}, "", false
}
