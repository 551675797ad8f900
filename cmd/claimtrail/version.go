package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/claimtrail/claimtrail/rules"
)

func runVersion(_ context.Context, e *env, _ []string) int {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Fprintf(e.stdout, "claimtrail %s, rules %s\n", v, rules.Version)
	return exitOK
}
