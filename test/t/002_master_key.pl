# The master key: missing, readable by others, malformed, from a command,
# changed on reload; the server starts in every case.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TraceChainNode;

my $node = tc_node('key');
my $dir = $node->data_dir;
my $status = q{SELECT configured || ',' || source || ',' || usable FROM tracechain.master_key_status()};
is($node->safe_psql('postgres', $status), 'true,file,true', 'key file loads');
my $fp1 = $node->safe_psql('postgres', 'SELECT fingerprint FROM tracechain.master_key_status()');
like($fp1, qr/^[0-9a-f]{16}$/, 'fingerprint is 16 hex digits');

sub set_conf
{
	my ($file, $cmd) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET tracechain.master_key_file = '$file'");
	$node->safe_psql('postgres', "ALTER SYSTEM SET tracechain.master_key_command = '$cmd'");
	$node->reload;
	# wait until a new backend sees the settings
	$node->poll_query_until('postgres', "SELECT current_setting('tracechain.master_key_file') = '$file'");
}

sub status_and_warning
{
	my ($stdout, $stderr);
	$node->psql('postgres', $status, stdout => \$stdout, stderr => \$stderr);
	return ($stdout, $stderr);
}

# No key configured: a clear error with a hint, and the server keeps running.
set_conf('', '');
my ($out, $err) = status_and_warning();
is($out, 'false,none,false', 'no key configured');
$node->restart;
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server starts without a master key');

# Readable by group or others: refused.
open(my $fh, '>', "$dir/open.key") or die;
print $fh ('ab' x 32) . "\n";
close($fh);
chmod(0644, "$dir/open.key");
set_conf("$dir/open.key", '');
($out, $err) = status_and_warning();
is($out, 'true,file,false', 'a world-readable key file is not used');
like($err, qr/accessible by group or others/, 'and the warning says why');
unlike($err, qr/abab/, 'the key never appears in the message');

# Malformed contents.
for my $bad ('xyz', ('ab' x 31), ('ab' x 33), ('ab' x 32) . "\n\n", ('ab' x 32) . " ")
{
	open($fh, '>', "$dir/bad.key") or die;
	print $fh $bad;
	close($fh);
	chmod(0600, "$dir/bad.key");
	set_conf("$dir/bad.key", '');
	($out, $err) = status_and_warning();
	is($out, 'true,file,false', 'malformed key refused (' . length($bad) . ' bytes)');
	like($err, qr/malformed/, 'warning says malformed');
}

# A missing file.
set_conf("$dir/nonexistent.key", '');
($out, $err) = status_and_warning();
like($err, qr/could not open master key file/, 'missing key file reported');

# The key from a command's standard output.
set_conf('', 'cat ' . $dir . '/tracechain_master.key');
is($node->safe_psql('postgres', $status), 'true,command,true', 'key from a command');
is($node->safe_psql('postgres', 'SELECT fingerprint FROM tracechain.master_key_status()'),
	$fp1, 'the same key gives the same fingerprint');
set_conf('', 'exit 3');
($out, $err) = status_and_warning();
like($err, qr/master key command failed/, 'a failing command is reported');
set_conf('', 'echo nothex');
($out, $err) = status_and_warning();
like($err, qr/malformed/, 'a command printing garbage is refused');

# Both set: refused.
set_conf("$dir/tracechain_master.key", 'cat ' . $dir . '/tracechain_master.key');
($out, $err) = status_and_warning();
like($err, qr/both tracechain.master_key_file and tracechain.master_key_command/, 'both settings refused');

# A new key takes effect on reload: a different fingerprint.
open($fh, '>', "$dir/new.key") or die;
print $fh ('cd' x 32) . "\n";
close($fh);
chmod(0600, "$dir/new.key");
set_conf("$dir/new.key", '');
my $fp2 = $node->safe_psql('postgres', 'SELECT fingerprint FROM tracechain.master_key_status()');
isnt($fp2, $fp1, 'a changed key setting takes effect on reload');

# The key never reaches the server log.
my $log = slurp_file($node->logfile);
unlike($log, qr/abababab|cdcdcdcd/, 'no key material in the server log');
$node->stop;
done_testing();
