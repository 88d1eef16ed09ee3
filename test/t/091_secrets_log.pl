# Secrets never reach the server log, even at log_min_messages = debug5 with
# log_statement = all: the flows below create a session token, a TOTP seed,
# a device secret and data keys server-side (the client never sends them, as
# an application using bind parameters would not put them in statement text)
# and the log is searched for each of them and for the master key.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TraceChainNode;

my $node = tc_node('secrets', conf => "log_min_messages = debug5\nlog_statement = all\nlog_min_error_statement = debug5\n");
ok(wait_for_worker($node), 'worker running');

# Run the flows; keep the secrets in a table the test reads back at the end.
$node->safe_psql('postgres', q{
CREATE TABLE leak_probe (what text, secret text);
DO $$
DECLARE
  p uuid := tracechain.principal_create('user', 'log-probe');
  t text;
  s record;
BEGIN
  t := tracechain.session_create(p);
  INSERT INTO leak_probe VALUES ('session token', t);
  PERFORM tracechain.authenticate(t);
  SELECT * INTO s FROM tracechain.totp_enroll(p, 'TraceChain', 'probe@example.com');
  INSERT INTO leak_probe VALUES ('totp secret', s.secret);
  INSERT INTO leak_probe VALUES ('device secret', tracechain.device_register('log-probe-1', 'sensor', 'Acme'));
  PERFORM tracechain.key_create('log-probe');
  PERFORM tracechain.encrypt(convert_to('payload', 'UTF8'), 'log-probe', 'ctx');
  PERFORM tracechain.key_rotate('log-probe');
END $$;
});
# A failing verification too (its event goes through the worker).
$node->psql('postgres', q{SELECT * FROM tracechain.session_verify('tcs_' || repeat('A', 43))});
$node->safe_psql('postgres', 'SELECT tracechain.events_flush_wait(10000)');

my %secrets = map { split /\|/, $_, 2 } split /\n/,
  $node->safe_psql('postgres', q{SELECT what || '|' || secret FROM leak_probe});
open(my $fh, '<', $node->data_dir . '/tracechain_master.key') or die;
my $master = <$fh>;
close($fh);
chomp $master;
$secrets{'master key'} = $master;

my $log = slurp_file($node->logfile);
ok(length($log) > 10000, 'the debug5 log is being written (' . length($log) . ' bytes)');
for my $what (sort keys %secrets)
{
	my $secret = $secrets{$what};
	ok(length($secret) >= 32, "$what captured for the search");
	ok(index($log, $secret) < 0, "$what is not in the server log");
}
unlike($log, qr/tcs_[A-Za-z0-9_-]{43}(?<!A{43})/, 'no session token of any kind in the log');
$node->stop;
done_testing();
