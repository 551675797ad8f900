package archive_test

import (
	"os"
	"testing"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/archive/archivetest"
)

func TestMain(m *testing.M) {
	archive.NewTestPostgresDSN = func(tb testing.TB) string {
		return archivetest.StartPostgres(tb).NewDatabase(tb)
	}
	code := m.Run()
	archivetest.StopPostgres()
	os.Exit(code)
}
