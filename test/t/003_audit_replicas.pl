# The audit trail on a streaming standby (read-only verification, then
# promotion extending the same chain) and on a logical-replication
# subscriber owned by auditors, where the chain verifies on its own.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TraceChainNode;

my $primary = tc_node('primary', init => { allows_streaming => 'logical' });
my $write = q{SELECT count(tracechain.log_system_event('replica.test', jsonb_build_object('i', g))) FROM generate_series(1, 100) g};

# Logical replication first, so that every row reaches the subscriber in commit (= chain) order.
my $sub = tc_node('auditors');
$primary->safe_psql('postgres', 'CREATE PUBLICATION audit_pub FOR TABLE tracechain.audit_log');
my $connstr = $primary->connstr . ' dbname=postgres';
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION audit_sub CONNECTION '$connstr' PUBLICATION audit_pub WITH (copy_data = false)");
$primary->wait_for_catchup('audit_sub');

$primary->safe_psql('postgres', $write);
$primary->safe_psql('postgres', q{CREATE TABLE t (id int PRIMARY KEY, v text); SELECT tracechain.audit_table('t')});
$primary->safe_psql('postgres', q{INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g; UPDATE t SET v = 'w' WHERE id <= 10});
$primary->safe_psql('postgres', q{SELECT tracechain.audit_seal()});

# Streaming standby from a backup.
$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->append_conf('postgresql.conf', 'restart_after_crash = on');
$standby->start;
$primary->safe_psql('postgres', $write);
$primary->safe_psql('postgres', q{SELECT tracechain.log_user_action('11111111-1111-1111-1111-111111111111', 'replica.view', 'product:1')});
$primary->wait_for_catchup($standby);

my $rows = $primary->safe_psql('postgres', 'SELECT count(*) FROM tracechain.audit_log');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM tracechain.audit_log'), $rows, 'standby has every row');
is($standby->safe_psql('postgres', 'SELECT ok FROM tracechain.verify_audit_chain()'), 't',
	'verify_audit_chain works read-only on the standby');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM tracechain.audit_trail('11111111-1111-1111-1111-111111111111')}),
	'1', 'audit_trail works on the standby');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tracechain worker'}),
	'0', 'no tracechain worker on the standby');
my ($ret, $out, $err) = $standby->psql('postgres', q{SELECT tracechain.log_system_event('on.standby')});
isnt($ret, 0, 'writing on the standby fails');

# The subscriber verifies the chain on its own.
$primary->wait_for_catchup('audit_sub');
is($sub->safe_psql('postgres', 'SELECT count(*) FROM tracechain.audit_log'), $rows,
	'the subscriber received every row');
is($sub->safe_psql('postgres', 'SELECT ok FROM tracechain.verify_audit_chain()'), 't',
	'the chain verifies on the subscriber');
my ($pid_last, $pid_hash) = split /\|/, $primary->safe_psql('postgres', 'SELECT last_id, hash FROM tracechain.audit_digest()');
is($sub->safe_psql('postgres', "SELECT tracechain.verify_audit_digest($pid_last, '$pid_hash')"), 't',
	'the primary\'s digest verifies on the subscriber');

# Promote the standby: the new primary extends the same chain.
my $head = $primary->safe_psql('postgres', 'SELECT max(id) FROM tracechain.audit_log');
$primary->stop('immediate');
$standby->promote;
ok($standby->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'tracechain worker'}),
	'the worker starts after promotion');
$standby->safe_psql('postgres', $write);
$standby->safe_psql('postgres', q{INSERT INTO t VALUES (1000, 'after failover'); SELECT tracechain.audit_seal()});
is($standby->safe_psql('postgres', 'SELECT min(id) FROM tracechain.audit_log WHERE id > ' . $head),
	$head + 1, 'new rows chain onto the old head');
is($standby->safe_psql('postgres', 'SELECT ok FROM tracechain.verify_audit_chain()'), 't',
	'the chain verifies after failover');

$standby->stop;
$sub->stop;
done_testing();
