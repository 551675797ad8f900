package archive

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// The tenant registry (the tenants and their domains) has a version, a
// number in the registry table that grows by one with every write that
// changes what a judgment can see of it: a tenant added, renamed, its CSP
// flag flipped, a domain added, removed or moved. A running poller polls it
// (RegistryVersion) to notice a change, and each judgment records the
// version it used (rules.Judgment.RegistryVersion).
//
// Every write to the registry goes through changeRegistry, which takes a
// snapshot before and after and, when they differ, bumps the version and
// appends a registry_changed entry in the same transaction.

// RegistryVersion returns the tenant registry's version: one cheap row
// read, meant to be polled. Safe for concurrent use.
func (l *Ledger) RegistryVersion(ctx context.Context) (int64, error) {
	v, err := registryVersion(ctx, l.r)
	if err != nil {
		return 0, dbErr("registry version", err)
	}
	return v, nil
}

// Registry returns the tenant registry's version and its tenants (as
// Tenants orders them) read in one transaction, so that the tenants are
// exactly those of that version. Safe for concurrent use.
func (l *Ledger) Registry(ctx context.Context) (version int64, tenants []rules.Tenant, err error) {
	tx, err := l.r.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, dbErr("read registry", err)
	}
	defer tx.Rollback()
	if version, err = registryVersion(ctx, tx); err != nil {
		return 0, nil, dbErr("read registry", err)
	}
	if tenants, err = tenantsIn(ctx, tx); err != nil {
		return 0, nil, dbErr("read registry", err)
	}
	return version, tenants, nil
}

func registryVersion(ctx context.Context, q querier) (int64, error) {
	var v int64
	err := q.QueryRowContext(ctx, `SELECT version FROM registry WHERE id = 1`).Scan(&v)
	return v, err
}

// registrySnapshot maps each tenant ID to what a judgment sees of it:
// name, CSP flag and domains.
func registrySnapshot(ctx context.Context, tx dbtx) (map[string]string, error) {
	tenants, err := tenantsIn(ctx, tx)
	if err != nil {
		return nil, err
	}
	snap := make(map[string]string, len(tenants))
	for _, t := range tenants {
		snap[t.ID] = fmt.Sprintf("%q %t %s", t.Name, t.CSP, strings.Join(t.Domains, " "))
	}
	return snap, nil
}

// changeRegistry runs change, a write to the tenant registry, inside tx and
// when it changed the registry bumps the version by one and appends an
// ActionRegistryChanged entry naming what (cause) and which tenants changed.
// It returns the registry's version after the change.
func (l *Ledger) changeRegistry(ctx context.Context, tx dbtx, now time.Time, cause string, change func() error) (int64, error) {
	before, err := registrySnapshot(ctx, tx)
	if err != nil {
		return 0, err
	}
	if err := change(); err != nil {
		return 0, err
	}
	after, err := registrySnapshot(ctx, tx)
	if err != nil {
		return 0, err
	}
	old, err := registryVersion(ctx, tx)
	if err != nil {
		return 0, err
	}
	var changed []string
	for id, s := range after {
		if prev, ok := before[id]; !ok || prev != s {
			changed = append(changed, id)
		}
	}
	for id := range before {
		if _, ok := after[id]; !ok {
			changed = append(changed, id)
		}
	}
	if len(changed) == 0 {
		return old, nil
	}
	slices.Sort(changed)
	v := old + 1
	if _, err := tx.ExecContext(ctx, `UPDATE registry SET version = ?, changed_at = ? WHERE id = 1`, v, fmtTime(now)); err != nil {
		return 0, err
	}
	_, err = l.appendAudit(ctx, tx, now, ActorSystem, ActionRegistryChanged, "registry", map[string]any{
		"registry_version": v,
		"previous_version": old,
		"change":           cause,
		"tenants":          changed,
		"tenant_count":     len(after),
	})
	return v, err
}
