# On a streaming standby the worker does not run and nothing is escalated;
# after promotion the worker starts and escalates what fell due.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TraceChainNode;

my $primary = tc_node('inc_primary', init => { allows_streaming => 1 });
ok(wait_for_worker($primary), 'worker running on the primary');
$primary->safe_psql('postgres',
	q{UPDATE tracechain.severity_levels SET response_time = '2 seconds' WHERE severity = 'HIGH'});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('inc_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

my $id = $primary->safe_psql('postgres', q{SELECT tracechain.detect_incident('MALWARE_DETECTED')});
$primary->wait_for_catchup($standby);
$primary->stop('fast');    # before the deadline: only the standby is left

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby in recovery');
is($standby->safe_psql('postgres', "SELECT count(*) FROM tracechain.incidents WHERE id = '$id'"),
	'1', 'the incident is on the standby');
sleep 4;    # the deadline passes on the standby
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tracechain worker'"),
	'0', 'no worker on the standby');
is($standby->safe_psql('postgres', "SELECT escalation_level FROM tracechain.incidents WHERE id = '$id'"),
	'0', 'nothing escalated on the standby');

$standby->promote;
ok(wait_for_worker($standby), 'worker starts after promotion');
ok($standby->poll_query_until('postgres',
		"SELECT escalation_level = 1 FROM tracechain.incidents WHERE id = '$id'"),
	'escalated after promotion');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM tracechain.incident_events WHERE incident = '$id' AND kind = 'escalated'
		   AND (details->>'deadline')::timestamptz = (SELECT detected_at + interval '2 seconds' FROM tracechain.incidents WHERE id = '$id')"),
	'1', 'the deadline that passed on the standby escalated once');
is($standby->safe_psql('postgres', 'SELECT ok FROM tracechain.verify_audit_chain()'), 't',
	'the promoted server extends the audit chain');

$standby->stop;
done_testing();
