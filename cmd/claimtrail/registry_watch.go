package main

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"time"

	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/rules"
)

// defaultRegistryEvery is how often a running poller looks for a change of
// the tenant registry: a stat of tenants_file and one row read of the
// ledger, so a tenant imported in the web app or the CLI, or added to the
// file, is judged with within seconds.
const defaultRegistryEvery = 2 * time.Second

// registryWatch keeps the pipeline's policy in step with the tenant
// registry while `claimtrail run` runs: it reloads tenants_file when the
// file changes (into the ledger, which bumps the registry's version) and
// rebuilds the policy when the ledger's version moves.
type registryWatch struct {
	st   *state
	cfg  *Config
	pipe *ingest.Pipeline
	log  *slog.Logger

	// file is tenants_file as last read; the zero stamp makes the first
	// check read it, which catches an edit made while run was starting.
	file fileStamp
	// failed is the registry version whose policy could not be built,
	// and fileErr the last problem with the file: each is logged once,
	// not every few seconds.
	failed  int64
	fileErr string
}

// fileStamp tells whether a file changed: size and modification time from
// a stat, and the SHA-256 of what was read when they moved.
type fileStamp struct {
	size  int64
	mtime time.Time
	sum   [sha256.Size]byte
}

// run checks every interval until ctx ends.
func (w *registryWatch) run(ctx context.Context, every time.Duration) {
	repeat(ctx, every, w.check)
}

// repeat calls fn every interval until ctx ends.
func repeat(ctx context.Context, every time.Duration, fn func(context.Context)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// check reloads tenants_file when it changed, then brings the pipeline's
// policy to the ledger's registry version.
func (w *registryWatch) check(ctx context.Context) {
	if w.cfg.tenantsPath != "" {
		w.reloadFile(ctx)
	}
	v, err := w.st.ledger.RegistryVersion(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("tenant registry version not read; the poller judges with the registry it has", "err", err)
		}
		return
	}
	old := w.pipe.Policy()
	if v == old.RegistryVersion() || v == w.failed {
		return
	}
	p, err := w.st.currentPolicy(ctx, w.cfg)
	if err != nil {
		if ctx.Err() == nil {
			w.failed = v
			w.log.Error("tenant registry changed, but it does not make a valid policy; the poller keeps judging with the previous one until the registry is fixed",
				"old_version", old.RegistryVersion(), "new_version", v, "err", err)
		}
		return
	}
	w.failed = 0
	w.pipe.SetPolicy(p)
	w.log.Info("tenant registry changed", "old_version", old.RegistryVersion(), "new_version", p.RegistryVersion(), "tenants", len(p.Tenants()))
}

// reloadFile reads tenants_file when its stamp moved and, when it holds a
// valid registry, writes it into the ledger (UpsertTenants, which bumps
// the version only when something changed). An invalid file is logged with
// what to fix and changes nothing.
func (w *registryWatch) reloadFile(ctx context.Context) {
	path := w.cfg.tenantsPath
	fi, err := os.Stat(path)
	if err != nil {
		w.fileError(path, err)
		return
	}
	if fi.Size() == w.file.size && fi.ModTime().Equal(w.file.mtime) {
		return
	}
	data, err := readLimited(path)
	if err != nil {
		w.fileError(path, err)
		return
	}
	stamp := fileStamp{size: fi.Size(), mtime: fi.ModTime(), sum: sha256.Sum256(data)}
	if stamp.sum == w.file.sum {
		w.file = stamp // touched, not changed
		return
	}
	fromFile, err := loadTenantsFile(path, func(string) ([]byte, error) { return data, nil })
	if err != nil {
		w.file = stamp
		w.fileError(path, err)
		return
	}
	tenants := append(append([]rules.Tenant(nil), w.cfg.Tenants[:w.cfg.inlineTenants]...), fromFile...)
	if _, err := rules.New(w.cfg.Rules, tenants); err != nil {
		w.file = stamp
		w.fileError(path, err)
		return
	}
	warnings, err := w.st.ledger.UpsertTenants(ctx, tenants)
	if err != nil {
		if ctx.Err() == nil {
			// Not stamped: the next check tries again.
			w.log.Error("tenants_file not written to the ledger; it will be tried again", "file", path, "err", err)
		}
		return
	}
	w.file, w.fileErr = stamp, ""
	for _, warning := range warnings {
		w.log.Warn("tenant registry", "file", path, "warning", warning)
	}
}

func (w *registryWatch) fileError(path string, err error) {
	if err.Error() == w.fileErr {
		return
	}
	w.fileErr = err.Error()
	w.log.Error("tenants_file not reloaded; fix it and save it again, the tenant registry stays as it was",
		"file", path, "err", err)
}
