package main

import (
	"os"
	"testing"

	"github.com/claimtrail/claimtrail/archive/archivetest"
)

// TestMain stops the PostgreSQL cluster the tests of a PostgreSQL ledger
// start (one for the test binary) once they are over.
func TestMain(m *testing.M) {
	code := m.Run()
	archivetest.StopPostgres()
	os.Exit(code)
}
