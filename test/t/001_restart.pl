# The audit chain and the event queue across restarts, crashes and worker kills.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TraceChainNode;

my $node = tc_node('restart');
ok(wait_for_worker($node), 'worker running');

my $write = q{
SELECT tracechain.log_system_event('restart.test', jsonb_build_object('i', g)) FROM generate_series(1, 200) g;
};
$node->safe_psql('postgres', $write);
my ($ok) = $node->safe_psql('postgres', 'SELECT ok FROM tracechain.verify_audit_chain()');
is($ok, 't', 'chain verifies before the crash');

# A failed verification queued just before an immediate shutdown, plus a
# committed transaction whose rows must survive.
$node->safe_psql('postgres', 'BEGIN; ' . $write . ' COMMIT;');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*) FROM tracechain.audit_log'),
	'400', 'every committed row survived the immediate shutdown');
is($node->safe_psql('postgres', 'SELECT ok FROM tracechain.verify_audit_chain()'),
	't', 'chain verifies after the immediate shutdown');
is($node->safe_psql('postgres', q{SELECT count(*) = count(DISTINCT prev_hash) AND max(id) = count(*) FROM tracechain.audit_log}),
	't', 'no fork, no gap');
ok(wait_for_worker($node), 'worker back after restart');
$node->safe_psql('postgres', q{SELECT tracechain.log_system_event('after.crash')});
is($node->safe_psql('postgres', 'SELECT ok FROM tracechain.verify_audit_chain()'),
	't', 'new rows chain onto the old head');

# Events queued by failing verifications are flushed by a clean (fast) shutdown.
$node->safe_psql('postgres', q{ALTER SYSTEM SET tracechain.worker_naptime = 60000});
$node->reload;
my $before = $node->safe_psql('postgres',
	q{SELECT count(*) FROM tracechain.audit_log WHERE action = 'session.verify_failed'});
for my $i (1 .. 5)
{
	$node->psql('postgres', q{SELECT * FROM tracechain.session_verify('tcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')});
}
$node->stop('fast');
$node->start;
my $after = $node->safe_psql('postgres',
	q{SELECT count(*) FROM tracechain.audit_log WHERE action = 'session.verify_failed'});
is($after - $before, 5, 'events queued before a fast shutdown are in audit_log after it');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET tracechain.worker_naptime});
$node->reload;

# kill -9 of the worker: the postmaster restarts the cluster and the worker; nothing committed is lost.
ok(wait_for_worker($node), 'worker running before the kill');
my $pid = worker_pid($node);
kill 'KILL', $pid;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'tracechain worker' AND pid <> $pid"),
	'worker restarted after kill -9');
is($node->safe_psql('postgres', 'SELECT ok FROM tracechain.verify_audit_chain()'),
	't', 'chain verifies after the worker was killed');
$node->psql('postgres', q{SELECT * FROM tracechain.session_verify('tcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')});
is($node->safe_psql('postgres', 'SELECT tracechain.events_flush_wait(10000)'), 't',
	'the restarted worker flushes new events');

# SIGTERM of the worker alone (pg_terminate_backend): it exits and comes back.
$pid = worker_pid($node);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'tracechain worker' AND pid <> $pid"),
	'worker restarted after SIGTERM');

$node->stop;
done_testing();
