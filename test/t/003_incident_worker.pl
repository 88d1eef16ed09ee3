# Incidents and the worker: escalation on time, acknowledging does not stop
# it, containing does; exactly once per deadline across fast and immediate
# restarts and a kill -9 of the worker; NOTIFY; incidents the extension
# raises itself (failed logins, a broken audit chain); maintenance.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use TraceChainNode;

my $naptime_ms = 1000;
my $node = tc_node('incident', conf => qq{
tracechain.worker_naptime = $naptime_ms
tracechain.audit_verify_interval = 1
tracechain.maintenance_interval = 1
tracechain.session_retention = 1
tracechain.incident_failed_logins = 5
});
ok(wait_for_worker($node), 'worker running');

sub sql { return $node->safe_psql('postgres', shift); }

sql(q{UPDATE tracechain.severity_levels SET response_time = '2 seconds' WHERE severity = 'HIGH'});

sub level { my $id = shift; return sql("SELECT escalation_level FROM tracechain.incidents WHERE id = '$id'"); }

sub wait_level
{
	my ($id, $level) = @_;
	return $node->poll_query_until('postgres',
		"SELECT escalation_level >= $level FROM tracechain.incidents WHERE id = '$id'");
}

# Escalations of one incident: level, lateness after the deadline (ms), deadline.
sub escalations
{
	my $id = shift;
	return sql(qq{SELECT string_agg((details->>'level') || ':' || (details->>'late_ms'), ' ' ORDER BY id)
	              FROM tracechain.incident_events WHERE incident = '$id' AND kind = 'escalated'});
}

# No deadline of any incident escalated twice.
sub no_double_escalation
{
	return sql(q{SELECT count(*) FROM (SELECT incident, details->>'deadline' FROM tracechain.incident_events
	                                  WHERE kind = 'escalated' GROUP BY 1, 2 HAVING count(*) > 1) d}) eq '0';
}

# 1. On time, twice; acknowledging does not stop it; containing does.
my $listen_out = '';
my $listener = IPC::Run::start(
	[ 'psql', '-X', '-q', '-d', $node->connstr('postgres'),
	  '-c', 'LISTEN tracechain_incident', '-c', 'SELECT pg_sleep(6)' ],
	'<', \undef, '>', \$listen_out, '2>', \$listen_out);
sleep 1;
my $id = sql(q{SELECT tracechain.detect_incident('MALWARE_DETECTED', '{"deviceId": "d1"}')});
is(level($id), '0', 'new incident at level 0');
ok(wait_level($id, 1), 'escalated after its deadline');
my ($l1, $late1) = split /:/, escalations($id);
ok($late1 >= 0 && $late1 < $naptime_ms, "first escalation ${late1} ms after its deadline (naptime $naptime_ms ms)");
sql(qq{SELECT tracechain.incident_transition('$id', 'acknowledged', 'looking')});
ok(wait_level($id, 2), 'escalated again after the next deadline, though acknowledged');
my @esc = split / /, escalations($id);
my (undef, $late2) = split /:/, $esc[1];
ok($late2 >= 0 && $late2 < $naptime_ms, "second escalation ${late2} ms after its deadline");
is(sql(qq{SELECT round(extract(epoch FROM (e2.details->>'deadline')::timestamptz - (e1.details->>'deadline')::timestamptz))
          FROM tracechain.incident_events e1, tracechain.incident_events e2
         WHERE e1.incident = '$id' AND e2.incident = '$id' AND e1.details->>'level' = '1' AND e2.details->>'level' = '2'}),
	'2', 'the second deadline is one response time after the first');
sql(qq{SELECT tracechain.incident_transition('$id', 'contained')});
my $level_contained = level($id);
is(sql(qq{SELECT next_escalation_at IS NULL FROM tracechain.incidents WHERE id = '$id'}), 't', 'contained: no deadline');
sleep 3;
is(level($id), $level_contained, 'containing stops escalation');
is(sql(qq{SELECT count(*) FROM tracechain.audit_log WHERE action = 'incident.escalated' AND resource = 'incident:$id'}),
	$level_contained, 'one audit row per escalation');
$listener->finish;
like($listen_out, qr/tracechain_incident" with payload "\{.*"event": "detected"/, 'NOTIFY on detection');
like($listen_out, qr/"event": "escalated".*"escalation_level": 1/, 'NOTIFY on escalation');

# 2. Restarts between detection and deadline: escalated after the restart, once.
for my $mode ('fast', 'immediate')
{
	my $rid = sql(q{SELECT tracechain.detect_incident('MALWARE_DETECTED', '{"deviceId": "d2"}')});
	$node->stop($mode);
	sleep 3;    # the deadline passes while the server is down
	$node->start;
	ok(wait_level($rid, 1), "$mode restart: escalated after the restart");
	is(sql(qq{SELECT count(*) FROM tracechain.incident_events WHERE incident = '$rid' AND kind = 'escalated'
	          AND (details->>'deadline')::timestamptz = (SELECT detected_at + interval '2 seconds' FROM tracechain.incidents WHERE id = '$rid')}),
		'1', "$mode restart: the missed deadline escalated once");
	sql(qq{SELECT tracechain.incident_transition('$rid', 'acknowledged'); SELECT tracechain.incident_transition('$rid', 'contained')});
}
ok(no_double_escalation(), 'no deadline escalated twice');

# 3. kill -9 of the worker: the postmaster restarts it; it catches up.
ok(wait_for_worker($node), 'worker running before the kill');
my $kid = sql(q{SELECT tracechain.detect_incident('MALWARE_DETECTED', '{"deviceId": "d3"}')});
my $pid = worker_pid($node);
kill 'KILL', $pid;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'tracechain worker' AND pid <> $pid"),
	'worker restarted after kill -9');
ok(wait_level($kid, 1), 'the restarted worker escalates the incident');
sql(qq{SELECT tracechain.incident_transition('$kid', 'acknowledged'); SELECT tracechain.incident_transition('$kid', 'contained')});
ok(no_double_escalation(), 'no deadline escalated twice after the kill');

# 4. Many incidents falling due together: each escalated once.
sql(q{SELECT tracechain.detect_incident('MALWARE_DETECTED') FROM generate_series(1, 200)});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM tracechain.incidents WHERE status = 'detected' AND escalation_level = 0 AND next_escalation_at IS NOT NULL}),
	'200 incidents due at once all escalated');
ok(no_double_escalation(), 'each of them once');
sql(q{SELECT tracechain.incident_transition(id, 'acknowledged'), tracechain.incident_transition(id, 'contained')
      FROM tracechain.incidents WHERE status = 'detected'});

# 5. Repeated failed logins from one IP raise UNAUTHORIZED_ACCESS, once per window.
sql(q{SELECT tracechain._record_event('security', 'session.verify_failed', NULL, '{"reason": "unknown"}', NULL, '192.0.2.55')
      FROM generate_series(1, 4)});
sql(q{SELECT tracechain._record_event('security', 'session.verify_failed', NULL, '{"reason": "unknown"}', NULL, '192.0.2.56')});
# Data rows never count, whatever their action (the watch reads only the other rows).
sql(q{SELECT tracechain._audit_enqueue('data', 'session.verify_failed', NULL, '{}', NULL, '192.0.2.55')
      FROM generate_series(1, 3)});
sql(q{SELECT tracechain.events_flush_wait()});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 3 FROM tracechain.audit_log WHERE type = 'data' AND action = 'session.verify_failed'}),
	'the data rows are sealed');
ok($node->poll_query_until('postgres',
		q{SELECT w.audit_scanned_id >= (SELECT max(id) FROM tracechain.audit_log WHERE type = 'data')
		    FROM tracechain.incident_watch_state w}),
	'and the watch has read past them');
is(sql(q{SELECT count(*) FROM tracechain.incidents WHERE source = 'tracechain' AND type = 'UNAUTHORIZED_ACCESS'}),
	'0', 'four failures (and three data rows with the same action and IP): no incident');
sql(q{SELECT tracechain._record_event('security', 'session.verify_failed', NULL, '{"reason": "unknown"}', NULL, '192.0.2.55')
      FROM generate_series(1, 3)});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM tracechain.incidents WHERE source = 'tracechain' AND type = 'UNAUTHORIZED_ACCESS'}),
	'the fifth failure from one IP raises an incident');
is(sql(q{SELECT severity || ' ' || (details->>'ip') || ' ' || (details->>'failures') FROM tracechain.incidents
        WHERE source = 'tracechain' AND type = 'UNAUTHORIZED_ACCESS'}),
	'MEDIUM 192.0.2.55 7', 'severity, IP and failure count');
sql(q{SELECT tracechain._record_event('security', 'session.verify_failed', NULL, '{}', NULL, '192.0.2.55')});
sleep 2;
is(sql(q{SELECT count(*) FROM tracechain.incidents WHERE source = 'tracechain' AND type = 'UNAUTHORIZED_ACCESS'}),
	'1', 'further failures in the same window raise no second incident');
is(sql(q{SELECT e.details->>'action' || ' ' || (e.details->>'outcome') FROM tracechain.incident_events e JOIN tracechain.incidents i ON i.id = e.incident
        WHERE i.source = 'tracechain' AND i.type = 'UNAUTHORIZED_ACCESS' AND e.kind = 'response'}),
	'ip_blocking done', 'its response blocks the IP');

# 6. A broken audit chain raises DATA_TAMPERING (CRITICAL), once.
ok($node->poll_query_until('postgres',
		q{SELECT chain_verified_id > 0 FROM tracechain.incident_watch_state}), 'the worker verifies the chain');
my $aid = sql(q{SELECT tracechain.log_system_event('to.be.rewritten')});
sql(qq{ALTER TABLE tracechain.audit_log DISABLE TRIGGER audit_log_guard;
     UPDATE tracechain.audit_log SET action = 'rewritten' WHERE id = $aid;
     ALTER TABLE tracechain.audit_log ENABLE ALWAYS TRIGGER audit_log_guard;});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM tracechain.incidents WHERE type = 'DATA_TAMPERING'}),
	'DATA_TAMPERING raised');
is(sql(q{SELECT severity || ' ' || source || ' ' || (details->>'firstBadId') FROM tracechain.incidents WHERE type = 'DATA_TAMPERING'}),
	"CRITICAL tracechain $aid", 'CRITICAL, raised by tracechain, pointing at the rewritten row');
sql(q{SELECT tracechain.log_system_event('after.tampering')});
sleep 3;
is(sql(q{SELECT count(*) FROM tracechain.incidents WHERE type = 'DATA_TAMPERING'}), '1', 'reported once');
ok(sql(q{SELECT chain_verified_id FROM tracechain.incident_watch_state}) > $aid, 'verification goes on past the broken row');

# 7. Maintenance purges ended sessions (and audits the purge).
my $p = sql(q{SELECT tracechain.principal_create('user', 'short-lived')});
sql(qq{SELECT tracechain.session_create('$p', interval '1 second')});
ok($node->poll_query_until('postgres', qq{SELECT count(*) = 0 FROM tracechain.sessions WHERE principal = '$p'}),
	'an ended session is purged');
ok(sql(q{SELECT count(*) FROM tracechain.audit_log WHERE action = 'maintenance.purge'}) > 0, 'the purge is audited');

# worker_status: per-job counters, no errors.
is(sql(q{SELECT (j->>'items')::int >= 200 FROM tracechain.worker_status, jsonb_array_elements(jobs) j
        WHERE j->>'name' = 'escalate incidents'}), 't', 'worker_status counts escalations');
is(sql(q{SELECT coalesce(string_agg(j->>'name' || ': ' || (j->>'last_error'), '; '), '') FROM tracechain.worker_status,
        jsonb_array_elements(jobs) j WHERE (j->>'errors')::int > 0}), '', 'no job errors');
is(sql(q{SELECT ok FROM tracechain.verify_audit_chain((SELECT max(id) FROM tracechain.audit_log WHERE action = 'after.tampering') - 1)}),
	't', 'the chain after the rewritten row verifies');

# 8. A failing job is logged and retried, and the loop goes on: an open
# transaction holding the audit chain lock makes the escalation wait past
# its lock_timeout (5 s); once it commits, the escalation happens.
my ($hold_in, $hold_out) = ('', '');
my $hold = IPC::Run::start([ 'psql', '-X', '-qtA', '-d', $node->connstr('postgres') ],
	'<', \$hold_in, '>', \$hold_out, '2>', \$hold_out);
my $fid = sql(q{SELECT tracechain.detect_incident('MALWARE_DETECTED', '{"deviceId": "d4"}')});
$hold_in .= "BEGIN; SELECT tracechain.log_system_event('holding.the.chain') > 0;\n";
$hold->pump until $hold_out =~ /t/;
ok($node->poll_query_until('postgres',
		q{SELECT (j->>'errors')::int > 0 FROM tracechain.worker_status, jsonb_array_elements(jobs) j
		   WHERE j->>'name' = 'escalate incidents'}),
	'the blocked escalation fails with an error in worker_status');
like(sql(q{SELECT j->>'last_error' FROM tracechain.worker_status, jsonb_array_elements(jobs) j
            WHERE j->>'name' = 'escalate incidents'}), qr/lock timeout/, 'the error says why');
is(level($fid), '0', 'not escalated while blocked');
my $runs = sql(q{SELECT runs FROM tracechain.worker_status});
$hold_in .= "COMMIT;\n\\q\n";
$hold->finish;
ok(wait_level($fid, 1), 'escalated once the lock is released');
ok(sql(q{SELECT runs FROM tracechain.worker_status}) > $runs, 'the worker loop went on');
ok(no_double_escalation(), 'still no deadline escalated twice');

$node->stop;
done_testing();
