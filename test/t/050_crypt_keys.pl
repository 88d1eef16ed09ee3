# Data keys under a master key rotation (reload, no restart), encryption
# counters that survive a restart, and no key material in the server log
# even at log_min_messages = debug5.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TraceChainNode;
use MIME::Base64 ();

my $node = tc_node('crypt', conf => "log_min_messages = debug5\nlog_min_error_statement = debug5\n");
my $dir = $node->data_dir;
my $k1 = slurp_file("$dir/tracechain_master.key");
chomp $k1;

sub sql { return $node->safe_psql('postgres', $_[0]); }

# An imported data key whose bytes we know, read from a file so that it is not in any statement text.
my $dk = join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32);
open(my $fh, '>', "$dir/dk.bin") or die;
binmode $fh;
print $fh pack('H*', $dk);
close $fh;

sql("SELECT tracechain.key_import('tap_imp', pg_read_binary_file('$dir/dk.bin'))");
unlink "$dir/dk.bin";
sql("SELECT tracechain.key_create('tap_a'), tracechain.key_create('tap_h', 'hmac'), tracechain.key_create('tap_ec', 'ec-p256')");
sql("CREATE TABLE t (id int PRIMARY KEY, a bytea, b bytea)");
sql("INSERT INTO t SELECT i, tracechain.encrypt('secret ' || i, 'tap_a', 'ctx'), tracechain.encrypt('imp ' || i, 'tap_imp') FROM generate_series(1, 100) i");
sql("SELECT tracechain.key_rotate('tap_a')");
my $p = sql("SELECT tracechain.principal_create('user', 'tap')");
sql("CREATE TABLE pt AS SELECT tracechain.encrypt_for('$p', 'personal') AS c");
my ($rc, $out, $err) = $node->psql('postgres', "SELECT tracechain.decrypt(b, 'tap_imp', 'wrong') FROM t WHERE id = 1");
like($err, qr/ERROR:  decryption failed$/m, 'decryption failure is generic');
sql("SELECT tracechain.hash_secret('pw')");

my $check = "SELECT count(*) FROM t WHERE tracechain.decrypt_text(a, 'tap_a', 'ctx') = 'secret ' || id "
  . "AND tracechain.decrypt_text(b, 'tap_imp') = 'imp ' || id";
is(sql($check), '100', 'data decrypts under the first master key');

# Encryption counters: written by the worker, kept across a restart.
$node->poll_query_until('postgres',
	"SELECT encryptions = 100 FROM tracechain.keys WHERE name = 'tap_a' AND version = 1")
  or die 'counter not flushed';
$node->restart;
is(sql("SELECT string_agg(version || ':' || encryptions, ',' ORDER BY version) FROM tracechain.key_usage('tap_a')"),
	'1:100,2:0', 'encryption counts survive a restart');

# Master key rotation.
my $fp1 = sql('SELECT fingerprint FROM tracechain.master_key_status()');
my $k2 = join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32);
open($fh, '>', "$dir/new.key") or die;
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

reload_with("$dir/new.key", '');
my $fp2 = sql('SELECT fingerprint FROM tracechain.master_key_status()');
isnt($fp2, $fp1, 'the new master key is in use after a reload, without a restart');
($rc, $out, $err) = $node->psql('postgres', $check);
isnt($rc, 0, 'without the old key, data keys sealed under it do not open');
like($err, qr/could not unseal/, '... with a clear error');

reload_with("$dir/new.key", "$dir/tracechain_master.key");
is(sql($check), '100', 'with the old key configured, everything still decrypts');
my $n = sql('SELECT tracechain.master_key_rewrap()');
is($n, sql("SELECT count(*) FROM tracechain.keys WHERE material IS NOT NULL"), "master_key_rewrap resealed all $n live keys");
is(sql('SELECT tracechain.master_key_rewrap()'), '0', 'a second rewrap has nothing to do');
is(sql("SELECT count(*) FROM tracechain.keys WHERE material IS NOT NULL AND encode(substring(material FROM 2 FOR 8), 'hex') <> '$fp2'"),
	'0', 'every data key is sealed under the new master key');
is(sql("SELECT count(*) FROM tracechain.audit_log WHERE action = 'master_key.rewrap'"), '2', 'rewrap is audited');

reload_with("$dir/new.key", '');
is(sql($check), '100', 'after the rewrap the old master key is not needed');
is(sql("SELECT convert_from(tracechain.decrypt_for('$p', c), 'UTF8') FROM pt"), 'personal', 'per-principal data too');
is(sql("SELECT tracechain.decrypt_text(tracechain.encrypt('new', 'tap_a'), 'tap_a')"), 'new', 'and encryption goes on');
($rc, $out, $err) = $node->psql('postgres', 'SELECT tracechain.master_key_rewrap()');
like($err, qr/no master key rotation is configured/, 'rewrap without an old key is refused');
sql("ALTER SYSTEM SET tracechain.master_key_old_file = '$dir/new.key'");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('tracechain.master_key_old_file') <> ''");
($rc, $out, $err) = $node->psql('postgres', 'SELECT tracechain.master_key_rewrap()');
like($err, qr/the old and the new tracechain master key are the same/, 'old = new is refused');
sql("ALTER SYSTEM RESET tracechain.master_key_old_file");
$node->reload;

# No key material in the log.
$node->stop;
my $log = slurp_file($node->logfile);
ok(length($log) > 100000, 'debug5 log written (' . length($log) . ' bytes)');
my $raw = pack('H*', $dk);
for my $needle ([ 'old master key', $k1 ], [ 'new master key', $k2 ], [ 'imported data key (hex)', $dk ],
	[ 'imported data key (HEX)', uc $dk ], [ 'imported data key (raw)', $raw ],
	[ 'imported data key (base64)', substr(MIME::Base64::encode_base64($raw, ''), 0, 40) ])
{
	ok(index($log, $needle->[1]) < 0, "log holds no $needle->[0]");
}
done_testing();
