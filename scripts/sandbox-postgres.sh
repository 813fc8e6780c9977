# Sourced by scripts/sandbox: the sandbox's PostgreSQL 15 (Debian's postgresql-15), for
# point-in-time recovery. It runs as the `postgres` user when the sandbox runs as root
# (PostgreSQL refuses root), bound to 127.0.0.1 only, no Unix socket, password (SCRAM) logins.
#
#   $dir/postgres/            owned by the database's user, mode 0700 (data/, its log, the
#                             archiver's own credentials copy and audit trail)
#   $dir/pgpass               the superuser's password for clients (PGPASSFILE), 0600, ours
#
# The run folder is 0700 and ours; the database's user reaches its folder through group
# `postgres` on the run folder (0710: it may pass, not list or read). Where a folder above the
# run folder is closed to it, the data goes to a folder of its own under /tmp and the run folder
# holds a link to it (postgres.outside says where; `down` removes it).
#
# WAL archiving: archive_command runs `carbon-recovery pg archive-wal %p %f` (the newest
# .build/{release,debug}/carbon-recovery, or $CARBON_RECOVERY_BINARY) into the bucket
# 254carbon-pg of the S3 server, stanza `sandbox`: a bucket of its own, because Velero marks a
# location whose prefix holds folders of others invalid, and the sandbox's location is the
# bucket root. Until carbon-recovery is built, archive_command fails and PostgreSQL keeps every
# segment (none is lost).

pg_bin_dir() { echo "${CARBON_RECOVERY_PG_BIN:-/usr/lib/postgresql/15/bin}"; }
pg_bucket="254carbon-pg"

# The prefix that runs a command as the database's user (nothing when we are not root);
# setpriv executes the command in its place, so a recorded PID is the server's own.
if [ "$(id -u)" = 0 ]; then as_pg_prefix=(setpriv --reuid=postgres --regid=postgres --init-groups --reset-env --); else as_pg_prefix=(); fi
as_pg() { "${as_pg_prefix[@]}" "$@"; }

# The carbon-recovery executable archive_command calls, when built.
pg_carbon_recovery() {
  local binary="${CARBON_RECOVERY_BINARY:-}"
  if [ -z "$binary" ]; then
    for candidate in "$repo/.build/release/carbon-recovery" "$repo/.build/debug/carbon-recovery"; do
      if [ -x "$candidate" ] && { [ -z "$binary" ] || [ "$candidate" -nt "$binary" ]; }; then binary="$candidate"; fi
    done
  fi
  echo "$binary"
}

# NAME PORT S3-URL: initializes and starts an instance in $dir/NAME, archiving to the sandbox's
# PostgreSQL bucket as stanza `sandbox`.
start_postgres() {
  local name="$1" port="$2" s3_url="$3" bin pgdir password binary archive_command
  bin="$(pg_bin_dir)"
  [ -x "$bin/postgres" ] || die "no PostgreSQL 15 server in $bin (scripts/sandbox-assets installs Debian's postgresql-15)"
  pgdir="$dir/$name"
  mkdir -p "$pgdir"
  if [ "$(id -u)" = 0 ]; then
    chgrp postgres "$dir" && chmod 0710 "$dir"
    chown postgres:postgres "$pgdir" && chmod 0700 "$pgdir"
    if ! as_pg test -w "$pgdir"; then
      local outside; outside="$(mktemp -d /tmp/carbon-recovery-pg.XXXXXX)"
      chown postgres:postgres "$outside" && chmod 0700 "$outside"
      rmdir "$pgdir" && ln -s "$outside" "$pgdir"
      echo "$outside" > "$dir/$name.outside"
      pgdir="$outside"   # the server's user cannot follow the link: every path it reads is the real one
      log "a folder above $dir is closed to the postgres user; $name's data is in $outside"
    fi
  fi
  # The superuser's password: ours in pgpass (any port on 127.0.0.1: a restored instance keeps
  # the roles and passwords of its backup), the database's copy only for initdb.
  if [ -f "$dir/pgpass" ]; then password="$(cut -d: -f5- "$dir/pgpass" | head -n 1)"; else password="$(random_hex 16)"; fi
  ( umask 077; [ -f "$dir/pgpass" ] || printf '127.0.0.1:*:*:postgres:%s\n' "$password" > "$dir/pgpass"
    printf '%s\n' "$password" > "$pgdir/initdb-password" )
  [ "$(id -u)" = 0 ] && chown postgres "$pgdir/initdb-password"
  as_pg "$bin/initdb" --pgdata "$pgdir/data" --username postgres --pwfile "$pgdir/initdb-password" \
    --auth scram-sha-256 --locale C --encoding UTF8 >"$dir/$name-initdb.log" 2>&1 \
    || { rm -f "$pgdir/initdb-password"; tail -n 20 "$dir/$name-initdb.log" >&2; die "initdb for $name failed"; }
  rm -f "$pgdir/initdb-password"

  # The archiver's own copy of the storage credentials and its own audit trail, beside the database.
  ( umask 077; cp "$dir/s3-credentials" "$pgdir/s3-credentials" )
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdir/s3-credentials"
  binary="$(pg_carbon_recovery)"
  if [ -n "$binary" ] && ! as_pg test -x "$binary"; then
    # A folder above the build is closed to the database's user: archive with a copy of its own.
    install -m 0500 "$binary" "$pgdir/carbon-recovery"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdir/carbon-recovery"
    binary="$pgdir/carbon-recovery"
  fi
  if [ -n "$binary" ] && as_pg test -x "$binary"; then
    archive_command="$binary pg archive-wal --s3-endpoint $s3_url --bucket $pg_bucket --credentials-file $pgdir/s3-credentials --audit-db $pgdir/archive-audit.db --stanza sandbox %p %f"
    echo "$binary" > "$dir/$name.archiver"
  else
    archive_command="echo 'carbon-recovery is not built (or not reachable by the postgres user): WAL is kept, not archived' >&2; exit 1"
    log "carbon-recovery is not built or not executable by the postgres user: $name keeps its WAL until it is"
  fi
  cat >> "$pgdir/data/postgresql.conf" <<EOF

# --- CarbonRecovery sandbox ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
wal_level = replica
archive_mode = on
archive_command = '${archive_command//\'/\'\'}'
track_commit_timestamp = on
max_wal_senders = 4
wal_keep_size = 0
EOF
  start_bg "$name" "${as_pg_prefix[@]}" "$bin/postgres" -D "$pgdir/data"
  echo "$port" > "$dir/$name.port"
  wait_for "$name" 60 env PGPASSFILE="$dir/pgpass" "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres
}

# NAME: a fast shutdown (SIGINT: sessions are cut, the checkpoint written); SIGQUIT after 30 s.
stop_postgres() {
  local name="$1" pid
  [ -f "$dir/$name.pid" ] || return 0
  pid="$(cat "$dir/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) did not stop within 30 s of a fast shutdown; sending SIGQUIT"
      kill -QUIT "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -f "$dir/$name.pid"
}

# NAME: removes an instance's data kept outside the run folder (the run folder's own goes with it).
remove_postgres_outside() {
  local name="$1" outside
  [ -f "$dir/$name.outside" ] || return 0
  outside="$(cat "$dir/$name.outside")"
  case "$outside" in /tmp/carbon-recovery-pg.*) rm -rf "$outside" ;; esac
  rm -f "$dir/$name.outside"
}
