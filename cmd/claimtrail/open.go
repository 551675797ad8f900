package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/rules"
)

// DKIMConfig is the dkim: section: whether signatures are verified when
// mail arrives, and how long a DNS look-up of a key may take.
type DKIMConfig struct {
	// Verify defaults to true. Turn it off only where DNS is unreachable
	// (tests, an air-gapped import); the bundles then say "not verified".
	Verify  *bool         `yaml:"verify"`
	Timeout time.Duration `yaml:"timeout"` // default 5s
}

// resolver returns the DNS resolver DKIM verification uses, or nil when
// verification is off.
func (c DKIMConfig) resolver() evidence.Resolver {
	if c.Verify != nil && !*c.Verify {
		return nil
	}
	t := c.Timeout
	if t == 0 {
		t = 5 * time.Second
	}
	return evidence.NewDNSResolver(t)
}

// state is the durable state a command works on: the ledger, the object
// store, and the policy judged with (the configuration's rules with the
// ledger's tenant registry, which CSV imports extend).
type state struct {
	ledger *archive.Ledger
	store  archive.Store
	policy *rules.Policy
}

// openState opens the ledger and the store that cfg names and brings the
// ledger's tenant registry in line with the configuration.
func openState(ctx context.Context, cfg *Config, log *slog.Logger) (*state, error) {
	if _, err := cfg.Policy(); err != nil {
		return nil, err
	}
	st, err := openLedgerState(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if st.policy, err = st.currentPolicy(ctx, cfg); err != nil {
		st.close()
		return nil, err
	}
	if st.store, err = archive.OpenStore(ctx, cfg.Archive); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// openLedgerState opens only the ledger cfg names and brings its tenant
// registry in line with the configuration: the state of commands that
// need no object store and no policy.
func openLedgerState(ctx context.Context, cfg *Config, log *slog.Logger) (*state, error) {
	lc := cfg.Ledger
	lc.Log = log
	ledger, err := archive.OpenLedger(ctx, lc)
	if err != nil {
		return nil, err
	}
	warnings, err := ledger.UpsertTenants(ctx, cfg.Tenants)
	if err != nil {
		ledger.Close()
		return nil, err
	}
	for _, w := range warnings {
		log.Warn("tenant registry", "warning", w)
	}
	return &state{ledger: ledger}, nil
}

// currentPolicy builds the policy from cfg's rules and the ledger's tenant
// registry as it is now; its judgments record the registry's version.
func (st *state) currentPolicy(ctx context.Context, cfg *Config) (*rules.Policy, error) {
	version, tenants, err := st.ledger.Registry(ctx)
	if err != nil {
		return nil, err
	}
	p, err := rules.New(cfg.Rules, tenants)
	if err != nil {
		return nil, fmt.Errorf("the tenant registry in %s (version %d) does not make a valid policy: %w", st.ledger.Path(), version, err)
	}
	return p.WithRegistryVersion(version), nil
}

func (st *state) close() {
	if st.store != nil {
		st.store.Close()
	}
	if st.ledger != nil {
		st.ledger.Close()
	}
}
