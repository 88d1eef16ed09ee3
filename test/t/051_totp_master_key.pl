# TOTP secrets under a master key rotation: master_key_rewrap() reseals the
# sealed seeds of confirmed factors and pending enrolments (totp.c registers
# its reseal function with keys.c), so that after the old master key is
# removed a factor still verifies and an enrolment can still be confirmed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TraceChainNode;

my $node = tc_node('totp_mk');
my $dir = $node->data_dir;

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Two users with sessions: alice confirms her factor, bob only enrols.
my %u;
for my $name ('alice', 'bob')
{
	my $id = sql("SELECT tracechain.principal_create('user', '$name')");
	my $tok = sql("SELECT tracechain.session_create('$id')");
	my $secret = sql("BEGIN; SELECT tracechain.authenticate('$tok') IS NOT NULL; SELECT e.secret FROM tracechain.totp_enroll() e; COMMIT");
	$secret = (split /\n/, $secret)[-1];
	$u{$name} = { id => $id, tok => $tok, secret => $secret };
}
sub as_user
{
	my ($name, $q) = @_;
	my $out = sql("BEGIN; SELECT tracechain.authenticate('$u{$name}{tok}') IS NOT NULL; $q; COMMIT");
	return (split /\n/, $out)[-1];
}
is(as_user('alice', "SELECT tracechain.totp_confirm(tracechain.totp_code('$u{alice}{secret}'))"), 't',
	'alice confirms her factor under the first master key');
is(sql('SELECT (SELECT count(*) FROM tracechain.totp_factors) || \',\' || (SELECT count(*) FROM tracechain.totp_pending)'),
	'1,1', 'one factor and one pending enrolment');

# A new master key; the old one configured for the rewrap.
my $fp1 = sql('SELECT fingerprint FROM tracechain.master_key_status()');
my $k2 = join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32);
open(my $fh, '>', "$dir/new.key") or die;
print $fh "$k2\n";
close $fh;
chmod(0600, "$dir/new.key");

sub reload_with
{
	my ($file, $old) = @_;
	sql("ALTER SYSTEM SET tracechain.master_key_file = '$file'");
	sql("ALTER SYSTEM SET tracechain.master_key_old_file = '$old'");
	$node->reload;
	$node->poll_query_until('postgres',
		"SELECT current_setting('tracechain.master_key_file') = '$file' AND current_setting('tracechain.master_key_old_file') = '$old'"
	) or die 'reload not seen';
}

reload_with("$dir/new.key", "$dir/tracechain_master.key");
my $fp2 = sql('SELECT fingerprint FROM tracechain.master_key_status()');
isnt($fp2, $fp1, 'the new master key is in use');
my $n = sql('SELECT tracechain.master_key_rewrap()');
my $keys = sql("SELECT count(*) FROM tracechain.keys WHERE material IS NOT NULL");
is($n, $keys + 2, "master_key_rewrap resealed the $keys data keys and the 2 TOTP secrets");
is(sql("SELECT details->>'totp_resealed' FROM tracechain.audit_log WHERE action = 'master_key.rewrap' ORDER BY id DESC LIMIT 1"),
	'2', 'the audit row counts the TOTP secrets');
is(sql("SELECT count(*) FROM (SELECT secret_sealed FROM tracechain.totp_factors UNION ALL SELECT secret_sealed FROM tracechain.totp_pending) s "
	  . "WHERE encode(substring(secret_sealed FROM 2 FOR 8), 'hex') <> '$fp2'"),
	'0', 'every TOTP secret is sealed under the new master key');
is(sql('SELECT tracechain.master_key_rewrap()'), '0', 'a second rewrap has nothing to do');

# The old key goes away.
reload_with("$dir/new.key", '');
unlink "$dir/tracechain_master.key";
is(as_user('alice', "SELECT tracechain.totp_verify(tracechain.totp_code('$u{alice}{secret}', now() + interval '30 seconds'))"),
	't', "alice's factor still verifies after the old master key is removed");
is(as_user('bob', "SELECT tracechain.totp_confirm(tracechain.totp_code('$u{bob}{secret}'))"), 't',
	"bob's pending enrolment can still be confirmed");
is(as_user('alice', "SELECT tracechain.totp_verify('000000') OR tracechain.totp_verify('999999')"), 'f',
	'wrong codes are still refused');

$node->stop;
done_testing();
