package claims

import (
	"go/build"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLayering keeps the data flowing one way: each package imports of
// ours only what is listed here (test files aside). The pure packages
// first: rules imports nothing of ours, claims only rules.
func TestLayering(t *testing.T) {
	const module = "github.com/claimtrail/claimtrail/"
	allowed := map[string][]string{
		"rules":    {},
		"claims":   {"rules"},
		"evidence": {"rules"},
		"archive":  {"claims", "rules"},
		"ingest":   {"archive", "claims", "evidence", "rules"},
		"web":      {"archive", "claims", "evidence", "rules"},
		"remind":   {"archive", "claims", "ingest"},
	}
	for dir, ok := range allowed {
		pkg, err := build.ImportDir(filepath.Join("..", dir), 0)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, imp := range pkg.Imports {
			ours, found := strings.CutPrefix(imp, module)
			if found && !slices.Contains(ok, ours) {
				t.Errorf("%s imports %s; it may import only %v of ours", dir, ours, ok)
			}
		}
	}
}
