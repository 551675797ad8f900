package ingesttest

import "github.com/claimtrail/claimtrail/ingest/graphfake"

// The credentials FakeGraph's token endpoint accepts unless told others.
const (
	FakeClientID     = graphfake.ClientID
	FakeClientSecret = graphfake.ClientSecret
)

// FakeGraph is graphfake.Server, the fake Microsoft Graph Service Health
// API and token endpoint; it lives in its own package so that the demo
// can serve it without importing package testing.
type FakeGraph = graphfake.Server

// NewFakeGraph starts a fake Graph; Close stops it. It panics when no
// loopback port is free, as httptest.NewServer does.
func NewFakeGraph() *FakeGraph {
	f, err := graphfake.Start()
	if err != nil {
		panic(err)
	}
	return f
}
