# Two sealers at once.  The worker seals the rows pending when its run
# began in batches, each batch its own transaction, from one plan made by a
# single scan of audit_pending.  A session's audit_seal() that gets the
# chain lock between two of those batches seals the rest of the rows; the
# worker's later batches then find their planned rows gone and skip them:
# every row is sealed exactly once, in pending-id order, and the chain
# verifies.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use TraceChainNode;

# No autovacuum: it could truncate audit_pending between the worker's batches
# (which the sealer survives, but this test counts on one plan).
my $node = tc_node('sealers', conf => "tracechain.worker_naptime = 60000\nautovacuum = off\n");
my $timer = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
ok(wait_for_worker($node), 'worker running');

sub sql { return $node->safe_psql('postgres', shift); }

# The worker has made its first run and now sleeps for a minute.
ok($node->poll_query_until('postgres', q{SELECT runs >= 1 FROM tracechain.worker_status}),
	'the worker made its first run');
sql(q{CREATE TABLE t (id int PRIMARY KEY, v int)});
sql(q{SELECT tracechain.audit_table('t')});
for my $k (0 .. 3)
{
	my ($from, $to) = ($k * 3000 + 1, ($k + 1) * 3000);
	sql("INSERT INTO t SELECT g, g FROM generate_series($from, $to) g");
}
is(sql(q{SELECT count(*) FROM tracechain.audit_pending}), '12000', '12,000 captured rows pending');

# x holds the chain lock (a direct append).
my ($x_in, $x_out) = ('', '');
my $x = IPC::Run::start([ 'psql', '-X', '-qtA', '-d', $node->connstr('postgres') ],
	'<', \$x_in, '>', \$x_out, '2>', \$x_out, $timer);
$x_in .= "BEGIN; SELECT tracechain.log_system_event('holding.the.chain') > 0;\n";
$x->pump until $x_out =~ /^t$/m;

# Wake the worker: its seal job waits for the chain lock.
sql(q{ALTER SYSTEM SET tracechain.worker_naptime = 100});
$node->reload;
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity
		   WHERE backend_type = 'tracechain worker' AND wait_event_type = 'Lock'
		     AND query = 'sealing tracechain audit rows'}),
	'the worker waits for the chain lock');

# y asks for the chain lock after the worker.
my ($y_in, $y_out) = ('', '');
my $y = IPC::Run::start([ 'psql', '-X', '-qtA', '-d', $node->connstr('postgres') ],
	'<', \$y_in, '>', \$y_out, '2>', \$y_out, $timer);
$y_in .= "SELECT tracechain.audit_seal();\n";
$y->pump_nb;
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'object'}),
	'audit_seal() waits behind the worker');

# x commits: the worker seals its first batch (5,000 rows), y the rest, and
# the worker's next batches find their rows gone.
$x_in .= "COMMIT;\n\\q\n";
$x->finish;
$y->pump until $y_out =~ /^(\d+)$/m;
is($1, '7000', 'audit_seal() sealed what the worker had not sealed yet');
$y_in .= "\\q\n";
$y->finish;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM tracechain.audit_pending}),
	'nothing is left pending');
my $runs = sql(q{SELECT runs FROM tracechain.worker_status});
ok($node->poll_query_until('postgres', "SELECT runs > $runs + 2 FROM tracechain.worker_status"),
	'the worker goes on');
is(sql(q{SELECT (j->>'errors')::int FROM tracechain.worker_status, jsonb_array_elements(jobs) j
          WHERE j->>'name' = 'seal audit rows'}), '0', 'the seal job had no error');

is(sql(q{SELECT count(*) || ' ' || count(DISTINCT details->'new'->>'id')
           FROM tracechain.audit_log WHERE action = 'row.insert'}),
	'12000 12000', 'every captured row is in the chain exactly once');
is(sql(q{SELECT count(*) FROM (
           SELECT (details->'new'->>'id')::int - lag((details->'new'->>'id')::int) OVER (ORDER BY id) AS step
             FROM tracechain.audit_log WHERE action = 'row.insert') s
          WHERE step <> 1}), '0', 'in capture order');
is(sql(q{SELECT ok FROM tracechain.verify_audit_chain()}), 't', 'the chain verifies');

$node->stop;
done_testing();
