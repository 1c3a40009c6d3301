#!/usr/bin/env bash
# A model of PostgreSQL's share of a delivery, outside the product: the statements that
# write a delivery's rows in today's shape (a delivery row inserted, leased, moved on), in
# the alternative of one queue row per event (deliveries written once, when recorded), and
# in today's shape with a lease that rewrites no indexed column (a HOT update), run
# by pgbench on one connection against Hookpost's own schema, 100,000 deliveries a run in
# batches of 200 (or the second argument) to one hook or, a tenth as many events, to ten.
# It omits everything else a node does (the claim's joins, hooks' last response, header
# sets, notifications, smaller batches); BENCHMARKS.md, eighth sitting, compares it with the
# product's figures. Prints PostgreSQL's CPU per delivery: the machine's busy time over the
# run minus pgbench's own (run it on an otherwise idle machine).
#
# Usage: bench/model/run.sh [rounds] [deliveries per batch, 200 unless given]
# (from the checkout's root, after `cargo build --release`;
# needs psql, pgbench and GNU time; PostgreSQL at $HOOKPOST_MODEL_POSTGRES, by default
# postgres://postgres@127.0.0.1:5432)
set -euo pipefail
rounds=${1:-3}
batch=${2:-200}
server=${HOOKPOST_MODEL_POSTGRES:-postgres://postgres@127.0.0.1:5432}
here=$(dirname "$0")
template="hookpost_model_$$"
run_db="${template}_run"
psql_admin() { psql "$server/postgres" -qAt "$@"; }
cleanup() {
  psql_admin -c "DROP DATABASE IF EXISTS $run_db" -c "DROP DATABASE IF EXISTS ${template}_hot" \
    -c "DROP DATABASE IF EXISTS $template" > /dev/null 2>&1 || true
}
trap cleanup EXIT

# Hookpost's schema, by its own migrations: a node that serves no API and delivers nothing.
psql_admin -c "CREATE DATABASE $template" > /dev/null
target/release/hookpost serve --database "$server/$template" --listen 127.0.0.1:0 \
  --deliver false --admin-token model-admin-token-0123456789 > /dev/null 2>&1 &
node=$!
for _ in $(seq 1 100); do
  if psql "$server/$template" -qAt -c "SELECT 1 FROM hookpost_schema" > /dev/null 2>&1 &&
     psql "$server/$template" -qAt -c "SELECT 1 FROM pg_tables WHERE tablename = 'attempts'" | grep -q 1; then
    break
  fi
  sleep 0.1
done
sleep 1
kill "$node"; wait "$node" 2> /dev/null || true
psql "$server/$template" -q -c "CREATE TABLE event_queue (event_id BIGINT PRIMARY KEY,
  due_at BIGINT NOT NULL, leased_by TEXT); CREATE INDEX event_queue_due ON event_queue (due_at)"
# The HOT lease's table keeps room on each page for a lease's new row version.
psql_admin -c "CREATE DATABASE ${template}_hot TEMPLATE $template" > /dev/null
psql "$server/${template}_hot" -q -c "ALTER TABLE deliveries SET (fillfactor = 40)"

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
ticks=$(getconf CLK_TCK)
measure() { # shape, events per batch, hooks
  local script=$1 hot=0 from=$template
  if [ "$1" = hot_lease ]; then
    script=per_delivery_rows hot=1 from=${template}_hot
  fi
  local deliveries=$(( $2 * $3 ))
  local transactions=$(( 100000 / deliveries ))
  psql_admin -c "CREATE DATABASE $run_db TEMPLATE $from" > /dev/null
  local before after started ended own
  before=$(busy); started=$(date +%s.%N)
  own=$( { /usr/bin/env time -f "%U %S" pgbench "$server/$run_db" -n -c 1 -t "$transactions" \
             -D events="$2" -D hooks="$3" -D hot="$hot" -f "$here/$script.sql" > /dev/null; } 2>&1 |
         tail -n 1 | awk '{print $1 + $2}')
  after=$(busy); ended=$(date +%s.%N)
  psql_admin -c "DROP DATABASE $run_db" > /dev/null
  awk -v b="$before" -v a="$after" -v t="$ticks" -v own="$own" -v n="$(( transactions * deliveries ))" \
      -v s="$started" -v e="$ended" -v name="$1, $2 events x $3 hooks" \
    'BEGIN { printf "%-40s %.4f ms PostgreSQL CPU per delivery, %d deliveries/s\n", name, ((a - b) / t - own) * 1000 / n, n / (e - s) }'
}
for round in $(seq 1 "$rounds"); do
  echo "round $round"
  for shape in per_delivery_rows per_event_queue hot_lease; do
    measure "$shape" "$batch" 1
    measure "$shape" $(( batch / 10 )) 10
  done
done
