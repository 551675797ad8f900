package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/claimtrail/claimtrail/archive"
)

const usersUsage = `usage: claimtrail users --config FILE COMMAND ...

Manages the web app's local users, in the ledger the configuration's
ledger: section names.

commands:
  add NAME --role viewer|analyst|admin [--password-file FILE]
  passwd NAME [--password-file FILE]     set a new password; ends the user's sessions
  role NAME viewer|analyst|admin         change a user's role
  remove NAME                            remove a user, their sessions and tokens
  list                                   list users and their API tokens
  token NAME [--label TEXT]              make an API token; it is shown once
  revoke ID                              revoke an API token

Passwords are never taken from the command line, where other users of the
machine could see them: they are read from --password-file, else from
standard input when it is not a terminal (one line), else prompted for
twice without echo. Roles: a viewer reads and downloads, an analyst also
edits claims and works the triage queue, an admin also manages tenants.

flags:
`

// Where users reads passwords from; tests replace them.
var (
	usersStdin    io.Reader = os.Stdin
	stdinTerminal           = func() (int, bool) { fd := int(os.Stdin.Fd()); return fd, term.IsTerminal(fd) }
)

func runUsers(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "users", usersUsage)
	configPath := fs.String("config", "", "the configuration `file`, whose ledger: section is used")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	sub, rest := fs.Arg(0), fs.Args()[1:]
	sfs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	sfs.SetOutput(e.stderr)
	sfs.StringVar(configPath, "config", *configPath, "the configuration `file`, whose ledger: section is used")
	var role, passwordFile, label *string
	nargs := 1
	switch sub {
	case "add":
		role = sfs.String("role", "", "the user's `role`: viewer, analyst or admin")
		passwordFile = sfs.String("password-file", "", "read the password from the first line of `file`")
	case "passwd":
		passwordFile = sfs.String("password-file", "", "read the password from the first line of `file`")
	case "token":
		label = sfs.String("label", "", "what the token is for, e.g. 'nightly export'")
	case "role":
		nargs = 2
	case "list":
		nargs = 0
	case "remove", "revoke":
	default:
		e.errorf("users: unknown command %q; see claimtrail users -h", sub)
		return exitUsage
	}
	pos, code, done := parseArgs(sfs, rest)
	if done {
		return code
	}
	if len(pos) != nargs {
		e.errorf("users %s: want %d argument(s), got %d; see claimtrail users -h", sub, nargs, len(pos))
		return exitUsage
	}
	var newRole archive.Role
	var err error
	if role != nil || sub == "role" {
		r := pos[len(pos)-1]
		if role != nil {
			if r = *role; r == "" {
				e.errorf("users add: --role is missing: viewer, analyst or admin")
				return exitUsage
			}
		}
		if newRole, err = archive.ParseRole(r); err != nil {
			e.errorf("users %s: %v", sub, err)
			return exitUsage
		}
	}

	if *configPath == "" {
		e.errorf("users: --config is missing; name the configuration file whose ledger holds the users, e.g. claimtrail users --config /etc/claimtrail/config.yaml %s ...", sub)
		return exitUsage
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	ledger, err := archive.OpenLedger(ctx, cfg.Ledger)
	if err != nil {
		e.errorf("users: %v", err)
		return exitFail
	}
	defer ledger.Close()
	act := cliActor()

	switch sub {
	case "add", "passwd":
		name, err := archive.NormalizeUserName(pos[0])
		if err != nil {
			e.errorf("users %s: %v", sub, err)
			return exitUsage
		}
		if sub == "passwd" {
			// Fail before asking for a password nobody can use.
			if _, err := ledger.User(ctx, name); err != nil {
				e.errorf("users passwd: %v", err)
				return exitFail
			}
		}
		hash, err := readPassword(e, *passwordFile)
		if err != nil {
			e.errorf("users %s: %v", sub, err)
			return exitUsage
		}
		if sub == "add" {
			_, err = ledger.AddUser(ctx, name, newRole, hash, act)
		} else {
			err = ledger.SetPassword(ctx, name, hash, act)
		}
		if err != nil {
			e.errorf("users %s: %v", sub, err)
			return exitFail
		}
		fmt.Fprintf(e.stdout, "%s %s\n", name, map[string]string{"add": "added as " + string(newRole), "passwd": "has a new password"}[sub])
	case "role":
		if err := ledger.SetRole(ctx, pos[0], newRole, act); err != nil {
			e.errorf("users role: %v", err)
			return exitFail
		}
		fmt.Fprintf(e.stdout, "%s is now %s\n", strings.ToLower(pos[0]), newRole)
	case "remove":
		if err := ledger.RemoveUser(ctx, pos[0], act); err != nil {
			e.errorf("users remove: %v", err)
			return exitFail
		}
		fmt.Fprintf(e.stdout, "%s removed\n", strings.ToLower(pos[0]))
	case "list":
		return listUsers(ctx, e, ledger)
	case "token":
		token, t, err := ledger.CreateAPIToken(ctx, pos[0], *label, act)
		if err != nil {
			e.errorf("users token: %v", err)
			return exitFail
		}
		fmt.Fprintf(e.stderr, "API token %d for %s; it is shown once, store it now. Use it as 'Authorization: Bearer <token>'.\n", t.ID, t.User)
		fmt.Fprintln(e.stdout, token)
	case "revoke":
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil {
			e.errorf("users revoke: %q is not a token ID; see claimtrail users list", pos[0])
			return exitUsage
		}
		if err := ledger.RevokeAPIToken(ctx, id, act); err != nil {
			e.errorf("users revoke: %v", err)
			return exitFail
		}
		fmt.Fprintf(e.stdout, "API token %d revoked\n", id)
	}
	return exitOK
}

func listUsers(ctx context.Context, e *env, ledger *archive.Ledger) int {
	users, err := ledger.Users(ctx)
	if err != nil {
		e.errorf("users list: %v", err)
		return exitFail
	}
	tokens, err := ledger.APITokens(ctx, "")
	if err != nil {
		e.errorf("users list: %v", err)
		return exitFail
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tROLE\tCREATED\tCHANGED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, u.CreatedAt.Format("2006-01-02"), u.UpdatedAt.Format("2006-01-02 15:04"))
	}
	if len(tokens) > 0 {
		fmt.Fprintln(tw, "\nTOKEN ID\tUSER\tLABEL\tLAST USED")
		for _, t := range tokens {
			last := "never"
			if !t.LastUsedAt.IsZero() {
				last = t.LastUsedAt.Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", t.ID, t.User, t.Label, last)
		}
	}
	if err := tw.Flush(); err != nil {
		e.errorf("users list: %v", err)
		return exitFail
	}
	return exitOK
}

// cliActor names the person at the terminal in the audit trail: every
// command that changes the ledger records its changes under it. A
// variable so that tests can name someone.
var cliActor = func() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

// readPassword reads a new password as usersUsage describes and hashes it.
func readPassword(e *env, file string) (archive.PasswordHash, error) {
	var pw string
	switch fd, tty := stdinTerminal(); {
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
		if pw, err = firstLine(f); err != nil {
			return "", fmt.Errorf("--password-file %s: %w", file, err)
		}
	case !tty:
		var err error
		if pw, err = firstLine(usersStdin); err != nil {
			return "", fmt.Errorf("standard input: %w", err)
		}
	default:
		fmt.Fprint(e.stderr, "New password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(e.stderr, "Again: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ; try again")
		}
		pw = string(a)
	}
	return archive.HashPassword(pw)
}

// firstLine reads one line (without its line end) of at most a few KB.
func firstLine(r io.Reader) (string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 4096))
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", err
		}
		return "", errors.New("no password: it is empty")
	}
	return strings.TrimRight(sc.Text(), "\r"), nil
}
