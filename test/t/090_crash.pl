# Crash tests (issue 7): kill -9 of a backend in the middle of each write path
# (login, audit writes, key rotation, incident detection) and immediate
# shutdowns.  After each restart: nothing committed is lost, nothing half-done
# remains, the audit intake drains and the chain verifies.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TraceChainNode;

my $node = tc_node('crash');
ok(wait_for_worker($node), 'worker running');
my $q = sub { $node->safe_psql('postgres', $_[0]) };

$q->(q{
CREATE TABLE public.crash_items (id int PRIMARY KEY, v text);
INSERT INTO public.crash_items SELECT g, 'v' || g FROM generate_series(1, 20000) g;
SELECT tracechain.audit_table('public.crash_items');
SELECT tracechain.key_create('crash.key');
});
my $p = $q->(q{SELECT tracechain.principal_create('user', 'crash victim')});
my $tok = $q->(qq{SELECT tracechain.session_create('$p', '1 hour')});

sub settle
{
	my ($what) = @_;
	ok($node->poll_query_until('postgres', 'SELECT true'), "$what: server back");
	ok(wait_for_worker($node), "$what: worker back");
	ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM tracechain.audit_pending'),
		"$what: intake sealed");
	is($q->('SELECT ok FROM tracechain.verify_audit_chain()'), 't', "$what: chain verifies");
	is($q->('SELECT max(id) = count(*) FROM tracechain.audit_log'), 't', "$what: no gap");
}

sub state
{
	return $q->(qq{SELECT
	  (SELECT count(*) FROM tracechain.sessions WHERE principal = '$p') || '/' ||
	  (SELECT count(*) FROM tracechain.audit_log WHERE action = 'session.create') || '/' ||
	  (SELECT count(*) FROM tracechain.audit_log WHERE action LIKE 'crash.%') || '/' ||
	  (SELECT count(*) FROM public.crash_items WHERE v LIKE 'upd%') || '/' ||
	  (SELECT max(version) FROM tracechain.keys WHERE name = 'crash.key') || '/' ||
	  (SELECT count(*) FROM tracechain.incidents)});
}

# kill -9 the backend of an open transaction after @sql ran in it; with
# $running, while the last statement is still running (sent, not waited for)
sub kill_in_tx
{
	my ($what, @sql) = @_;
	my $running = $what =~ /while running/;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_safe('BEGIN');
	my $last = $running ? pop @sql : undef;
	$s->query($_) for @sql;
	if ($running)
	{
		$s->{stdin} .= "$last;\n";
		$s->{run}->pump_nb();
		$node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $pid AND state = 'active'");
		sleep 1;
	}
	kill 'KILL', $pid;
	eval { $s->{run}->kill_kill };
	settle($what);
}

$q->(q{SELECT tracechain.log_system_event('crash.committed')});
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM tracechain.audit_pending'), 'sealed before');
my $before = state();
note("state before: $before");

kill_in_tx('login', qq{SELECT tracechain.session_create('$p', '1 hour') FROM generate_series(1, 50)},
	qq{SELECT tracechain.authenticate('$tok')});
is(state(), $before, 'login: no session and no audit row of the killed transaction');
is($q->(qq{SELECT principal = '$p' FROM tracechain.session_verify('$tok')}), 't',
	'login: the committed session still verifies');

kill_in_tx('audit write',
	q{SELECT tracechain.log_system_event('crash.killed', jsonb_build_object('i', g)) FROM generate_series(1, 500) g},
	q{UPDATE public.crash_items SET v = 'upd' || id});
is(state(), $before, 'audit write: no log_* row, no update, no captured row of the killed transaction');
kill_in_tx('audit write, while running',
	q{SELECT tracechain.log_system_event('crash.killed', jsonb_build_object('i', g)) FROM generate_series(1, 500) g},
	q{UPDATE public.crash_items SET v = 'upd' || id WHERE pg_sleep(0.0005) IS NOT NULL});
is(state(), $before, 'audit write: no log_* row, no update, no captured row of the killed transaction');
is($q->(q{SELECT count(*) FROM tracechain.audit_log WHERE action = 'crash.committed'}), '1',
	'audit write: the committed row is there');

kill_in_tx('key rotation', q{SELECT tracechain.key_rotate('crash.key')});
is(state(), $before, 'key rotation: no new key version');
is($q->(q{SELECT tracechain.decrypt(tracechain.encrypt('\x01'::bytea, 'crash.key', 'c'), 'crash.key', 'c')}),
	'\x01', 'key rotation: the key still encrypts and decrypts');
is($q->(q{SELECT count(*) FROM tracechain.keys k WHERE name = 'crash.key'
           AND NOT EXISTS (SELECT 1 FROM tracechain.audit_log a WHERE a.action LIKE 'key.%' AND a.resource LIKE '%crash.key%')}),
	'0', 'key rotation: every key version has its audit row');

kill_in_tx('incident detection',
	q{SELECT tracechain.detect_incident('BRUTE_FORCE', '{"ip": "203.0.113.7"}') FROM generate_series(1, 20)});
is(state(), $before, 'incident detection: no incident of the killed transaction');

# immediate shutdowns: committed work survives, in-flight work vanishes
# (committed first: an open log_* transaction holds the chain's append lock)
$q->(q{SELECT tracechain.log_system_event('crash.before_stop') FROM generate_series(1, 100)});
my $tok2 = $q->(qq{SELECT tracechain.session_create('$p', '1 hour')});
$q->(q{UPDATE public.crash_items SET v = 'upd' || id WHERE id <= 10});
my $s = $node->background_psql('postgres', on_error_stop => 0);
$s->query_safe('BEGIN');
$s->query(q{SELECT tracechain.log_system_event('crash.inflight') FROM generate_series(1, 100)});
$node->stop('immediate');
eval { $s->{run}->kill_kill };
$node->start;
settle('immediate shutdown');
is($q->(q{SELECT count(*) FROM tracechain.audit_log WHERE action = 'crash.before_stop'}), '100',
	'immediate shutdown: committed rows survived');
is($q->(q{SELECT count(*) FROM tracechain.audit_log WHERE action = 'crash.inflight'}), '0',
	'immediate shutdown: the open transaction left nothing');
is($q->(qq{SELECT principal = '$p' FROM tracechain.session_verify('$tok2')}), 't',
	'immediate shutdown: the committed session verifies');
is($q->(q{SELECT count(*) FROM public.crash_items WHERE v LIKE 'upd%'}), '10', 'immediate shutdown: committed update');

# an immediate shutdown with writes still in the intake (worker paused)
$q->(q{ALTER SYSTEM SET tracechain.worker_naptime = 60000});
$node->reload;
$q->(q{SELECT tracechain.log_system_event('crash.pending') FROM generate_series(1, 300)});
$node->stop('immediate');
$node->start;
$q->(q{ALTER SYSTEM RESET tracechain.worker_naptime});
$node->reload;
settle('immediate shutdown with a full intake');
is($q->(q{SELECT count(*) FROM tracechain.audit_log WHERE action = 'crash.pending'}), '300',
	'intake: every committed pending row sealed after the restart');
is($q->(qq{SELECT count(*) FROM tracechain.sessions s WHERE s.principal = '$p'}), '2', 'two committed sessions, no more');

$node->stop;
done_testing();
