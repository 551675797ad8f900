package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/claimtrail/claimtrail/ingest"
)

// healthRefresh reads the open claims' incidents from Microsoft Graph again
// every service_health.refresh while `claimtrail run` runs (on the replica
// holding the job's lease), so a claim
// keeps Microsoft's record (and its post-incident report) before Service
// Health forgets it.
type healthRefresh struct {
	syncer *ingest.Syncer
	log    *slog.Logger
}

// healthRefreshEvery is how often run refreshes; tests shorten it below
// the minimum a configuration may set.
var healthRefreshEvery = (*ServiceHealthConfig).RefreshEvery

// once syncs every incident and logs what failed, with what to do.
func (h *healthRefresh) once(ctx context.Context) {
	stats, err := h.syncer.SyncAll(ctx)
	if ctx.Err() != nil {
		return
	}
	h.log.Info("service health: incidents read", "read", stats.Synced, "changed", stats.Changed, "skipped", stats.Skipped, "failed", stats.Failed)
	if err == nil {
		return
	}
	for _, e := range unjoin(err) {
		switch {
		case errors.Is(e, ingest.ErrBadCredentials):
			h.log.Error("service health: Graph refused the app; check service_health.client_id and the client secret (it may have expired)", "err", e)
		case errors.Is(e, ingest.ErrThrottled) || !ingest.IsPermanent(e):
			h.log.Warn("service health: will try again at the next refresh", "err", e)
		default:
			h.log.Error("service health: could not read an incident; fix what the error says, or turn the tenant off with service_health.skip_tenants", "err", e)
		}
	}
}
