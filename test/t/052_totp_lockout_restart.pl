# TOTP lockouts and failure counts survive a restart and a crash: the worker
# copies the shared-memory lockout table into totp_lockouts, and a principal's
# first attempt after the restart starts from its row.  A success forgives and
# the worker deletes the row; totp_disable deletes it at once; an ended lockout
# is purged and does not come back.  totp_disable and the job's copy are
# serialized, and an open totp_disable does not hold the worker up.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use TraceChainNode;

my $node = tc_node('totp_lockout');
ok(wait_for_worker($node), 'worker running');
$node->safe_psql('postgres', q{ALTER SYSTEM SET tracechain.totp_lockout = '1h'});
$node->reload;

sub sql { return $node->safe_psql('postgres', $_[0]); }

my %u;
# A principal with a session and a pending factor, as $u{$name}; its id.
sub enrol
{
	my ($name) = @_;
	my $id = sql("SELECT tracechain.principal_create('user', '$name')");
	$u{$name} = { id => $id, tok => sql("SELECT tracechain.session_create('$id')") };
	new_secret($name);
	return $id;
}
sub new_secret
{
	my ($name) = @_;
	my $out = sql("BEGIN; SELECT tracechain.authenticate('$u{$name}{tok}') IS NOT NULL; "
		  . "SELECT e.secret FROM tracechain.totp_enroll() e; COMMIT");
	$u{$name}{secret} = (split /\n/, $out)[-1];
}
sub confirm { return as_user($_[0], "SELECT tracechain.totp_confirm(tracechain.totp_code('$u{$_[0]}{secret}'))"); }
for my $name ('locked', 'counted', 'forgiven', 'disabled')
{
	enrol($name);
	is(confirm($name), 't', "$name confirms a factor");
}
sub as_user
{
	my ($name, $q) = @_;
	my $out = sql("BEGIN; SELECT tracechain.authenticate('$u{$name}{tok}') IS NOT NULL; $q; COMMIT");
	return (split /\n/, $out)[-1];
}
# A code that is wrong for every step in the window, and the right one of step k from now.
sub wrong
{
	my $s = $u{$_[0]}{secret};
	return sql("SELECT min(c) FROM (SELECT lpad(g::text, 6, '0') c FROM generate_series(0, 9) g) v "
		  . "WHERE c NOT IN (SELECT tracechain.totp_code('$s', now() + k * interval '30 seconds') FROM generate_series(-2, 2) k)");
}
sub right { return sql("SELECT tracechain.totp_code('$u{$_[0]}{secret}', now() + $_[1] * interval '30 seconds')"); }
sub fails
{
	my ($name, $n) = @_;
	my $w = wrong($name);
	for (1 .. $n) { as_user($name, "SELECT tracechain.totp_verify('$w')"); }
}
sub state
{
	return sql("SELECT failures || ',' || (locked_until IS NOT NULL)::int FROM tracechain.totp_admin_status('$u{$_[0]}{id}')");
}

fails('locked', 5);
fails('counted', 3);
fails('forgiven', 2);
fails('disabled', 5);
is(state('locked'), '5,1', 'five failures lock');
is(state('counted'), '3,0', 'three failures counted');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 4 FROM tracechain.totp_lockouts}),
	'the worker wrote the four entries into totp_lockouts');
is(as_user('forgiven', "SELECT tracechain.totp_verify('" . right('forgiven', 1) . "')"), 't', 'a success forgives');
ok($node->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT FROM tracechain.totp_lockouts WHERE principal = '$u{forgiven}{id}')"),
	'and the worker deletes its row');
is(sql("SELECT tracechain.totp_disable('$u{disabled}{id}')"), 't', 'an administrator disables a locked factor');
is(sql("SELECT count(*) FROM tracechain.totp_lockouts WHERE principal = '$u{disabled}{id}'"), '0',
	'totp_disable deleted its row at once');

# A crash: shared memory is gone, the rows are not.
$node->stop('immediate');
$node->start;
ok(wait_for_worker($node), 'worker back after the crash');
is(state('locked'), '5,1', 'the lockout is reported after the restart');
is(as_user('locked', "SELECT tracechain.totp_verify('" . right('locked', 1) . "')"), 'f',
	'and the right code is still refused');
is(state('counted'), '3,0', 'the failure count is back');
fails('counted', 2);
is(state('counted'), '5,1', 'two more failures lock: the count went on from three');
is(state('forgiven'), '0,0', 'the forgiven principal has no failures');
fails('forgiven', 1);
is(state('forgiven'), '1,0', 'and counts from zero');

# An ended lockout: purged, and not brought back by another restart.
$node->safe_psql('postgres', q{ALTER SYSTEM SET tracechain.totp_lockout = '1s'});
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('tracechain.totp_lockout') = '1s'}) or die;
my $short = enrol('short');
is(confirm('short'), 't', 'short confirms');
fails('short', 5);
is(state('short'), '5,1', 'short is locked for a second');
ok($node->poll_query_until('postgres', "SELECT EXISTS (SELECT FROM tracechain.totp_lockouts WHERE principal = '$short')"),
	'its lockout was written');
sql('SELECT pg_sleep(1.2)');
is(sql('SELECT tracechain._totp_lockout_sync() >= 0'), 't', 'a sync after the lockout ended');
is(sql("SELECT count(*) FROM tracechain.totp_lockouts WHERE principal = '$short'"), '0', 'purged the ended lockout');
$node->restart;
ok(wait_for_worker($node), 'worker back after a clean restart');
is(state('short'), '0,0', 'the ended lockout does not come back');
is(as_user('short', "SELECT tracechain.totp_verify('" . right('short', 1) . "')"), 't', 'and the right code works');
is(state('locked'), '5,1', 'the hour-long lockout is still there');

# totp_disable against the job's copy.  The job copies entries into
# totp_lockouts under a table lock that totp_disable takes too, so a copy taken
# before totp_disable drops the entry is written before its DELETE (which then
# removes it), never after it (that left a stale lockout for the principal's
# next enrolment).  x runs the job's code: _totp_lockout_sync() in an open
# transaction, which holds the lock until x commits.  (The window itself, a
# drop between the job's copy and its write, cannot be entered from SQL: both
# sides now run from their lock to their commit, which this checks.)
$node->safe_psql('postgres', q{ALTER SYSTEM SET tracechain.totp_lockout = '1h'});
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('tracechain.totp_lockout') = '1h'}) or die;
sub session
{
	my ($in, $out) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-qtA', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$out, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return { h => $h, in => \$in, out => \$out };
}
sub send_wait
{
	my ($s, $q, $re) = @_;
	${ $s->{in} } .= "$q\n";
	$s->{h}->pump until ${ $s->{out} } =~ $re;
}
my $race = enrol('race');
is(confirm('race'), 't', 'race confirms');
fails('race', 5);
is(state('race'), '5,1', 'race is locked');
my $x = session();
my $y = session();
send_wait($x, q{BEGIN; SELECT 'synced ' || (tracechain._totp_lockout_sync() >= 0);}, qr/^synced true$/m);
${ $y->{in} } .= "SELECT 'disabled ' || tracechain.totp_disable('$race');\n";
$y->{h}->pump_nb;
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%totp_disable%'}),
	'totp_disable waits for the copy to commit');
send_wait($x, q{COMMIT; SELECT 'committed';}, qr/^committed$/m);
$y->{h}->pump until ${ $y->{out} } =~ /^disabled true$/m;
is(sql("SELECT count(*) FROM tracechain.totp_lockouts WHERE principal = '$race'"), '0',
	'then it deletes the row the copy wrote');
is(sql('SELECT tracechain._totp_lockout_sync() >= 0'), 't', 'a sync after it');
is(sql("SELECT count(*) FROM tracechain.totp_lockouts WHERE principal = '$race'"), '0', 'writes no row back');
new_secret('race');
is(confirm('race'), 't', 'race enrols again');
is(state('race'), '0,0', 'and starts with no failures and no lock');

# An open totp_disable holds the lock: the worker's job skips its turn and
# the worker goes on with its other jobs.
send_wait($y, "BEGIN; SELECT 'held ' || tracechain.totp_disable('$u{counted}{id}');", qr/^held true$/m);
my $runs = sql(q{SELECT runs FROM tracechain.worker_status});
ok($node->poll_query_until('postgres', "SELECT runs > $runs + 2 FROM tracechain.worker_status"),
	'the worker goes on while a totp_disable is open');
send_wait($y, q{COMMIT; SELECT 'done';}, qr/^done$/m);
${ $x->{in} } .= "\\q\n";
${ $y->{in} } .= "\\q\n";
$x->{h}->finish;
$y->{h}->finish;

$node->stop;
done_testing();
