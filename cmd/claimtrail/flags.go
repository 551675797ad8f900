package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
)

// newFlags returns a subcommand's flag set: its errors go to stderr, and -h
// prints usage followed by the flags' defaults.
func newFlags(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses the flags before the first operand. done says the
// command must return code at once: -h asked for help (exit 0), or a flag
// was wrong and flag has printed what and the usage (exit 2).
func parseFlags(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		return exitCode(err), true
	}
	return exitOK, false
}

// parseArgs is parseFlags for commands whose flags may also come after
// their operands (claimtrail inspect a.eml --json); it returns the
// operands. Everything after "--" is an operand.
func parseArgs(fs *flag.FlagSet, args []string) (operands []string, code int, done bool) {
	var rest []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, rest = args[:i], args[i+1:]
	}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, exitCode(err), true
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		operands = append(operands, args[0])
		args = args[1:]
	}
	return append(operands, rest...), exitOK, false
}

func exitCode(parseErr error) int {
	if errors.Is(parseErr, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
