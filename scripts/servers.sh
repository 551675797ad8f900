# Sourced by scripts/test.sh (and usable alone: `. scripts/servers.sh; ensure_servers`).
# Installs the servers the integration tests need when they are missing and
# exports where they are. Needs root (or sudo) for apt-get on a fresh machine.

# MINIO_VERSION pins the community MinIO server, which is distributed as source.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

_as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

_apt_updated=
_apt_install() {
	if [ -z "$_apt_updated" ]; then
		echo "== apt-get update"
		_as_root apt-get update -qq
		_apt_updated=1
	fi
	echo "== apt-get install $*"
	_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_minio() {
	local bin
	bin="$(go env GOPATH)/bin/minio"
	if [ ! -x "$bin" ]; then
		echo "== building the MinIO server $MINIO_VERSION (about 4 minutes, once)"
		GOFLAGS= go install "github.com/minio/minio@$MINIO_VERSION"
	fi
	export CLAIMTRAIL_MINIO="$bin"
}

# ensure_dovecot makes Dovecot's IMAP server available to ingest/ingesttest,
# which runs a private instance per test (its own config, ports and users;
# the system service is not used). As root it needs the dovecot and dovenull
# users that dovecot-core creates. CLAIMTRAIL_DOVECOT may name another binary.
ensure_dovecot() {
	local bin="${CLAIMTRAIL_DOVECOT:-/usr/sbin/dovecot}"
	if [ ! -x "$bin" ] || { [ "$(id -u)" -eq 0 ] && ! id dovenull >/dev/null 2>&1; }; then
		_apt_install dovecot-imapd
		bin=/usr/sbin/dovecot
	fi
	echo "== dovecot $("$bin" --version)"
	export CLAIMTRAIL_DOVECOT="$bin"
}

# ensure_postgres makes PostgreSQL's initdb and postgres available to
# archive/archivetest, which runs a private cluster per test binary (its own
# temporary directory, port and password; the system service is not used).
# As root the cluster runs as the postgres user that the package creates.
# CLAIMTRAIL_POSTGRES may name another directory holding initdb and pg_ctl.
ensure_postgres() {
	local dir="${CLAIMTRAIL_POSTGRES:-}"
	if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
		dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
	fi
	if [ -z "$dir" ] || [ ! -x "$dir/initdb" ] || { [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; }; then
		_apt_install postgresql
		dir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
	fi
	echo "== postgres $("$dir/postgres" --version)"
	export CLAIMTRAIL_POSTGRES="$dir"
}

ensure_chromium() {
	if [ ! -x /usr/bin/chromium ]; then _apt_install chromium; fi
	export CLAIMTRAIL_CHROMIUM=/usr/bin/chromium
}

ensure_servers() {
	ensure_dovecot
	ensure_postgres
	ensure_chromium
	ensure_minio
}
