package main

import (
	"context"
	"fmt"
)

// openConfiguredStore opens the object store that the configuration file at
// configPath names.
//
// The configuration has no store section yet (Config.Store, an
// archive.StoreConfig under "store:"); until it has, KEY arguments are
// refused with what to do instead.
func openConfiguredStore(_ context.Context, configPath string) (bundleStore, error) {
	if _, err := loadConfig(configPath); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%s: this claimtrail cannot open the store from its configuration yet; "+
		"open the bundle's file instead (a directory store keeps it at <dir>/bundles/<sha256>/<n>.zip)", configPath)
}
