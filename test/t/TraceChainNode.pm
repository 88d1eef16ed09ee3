# TraceChainNode: a PostgreSQL::Test::Cluster node with tracechain preloaded,
# a 0600 master key file and the extension created in database "postgres".
package TraceChainNode;
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Exporter 'import';
our @EXPORT = qw(tc_node wait_for_worker worker_pid);

sub tc_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opts{init} // {} });
	my $key = $node->data_dir . '/tracechain_master.key';
	open(my $fh, '>', $key) or die "cannot write $key: $!";
	print $fh join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32), "\n";
	close($fh);
	chmod(0600, $key);
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tracechain'
tracechain.database = 'postgres'
tracechain.master_key_file = '$key'
tracechain.worker_naptime = 100
restart_after_crash = on
});
	$node->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION tracechain') unless $opts{no_extension};
	return $node;
}

sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'tracechain worker'");
}

sub wait_for_worker
{
	my ($node) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'tracechain worker'");
}

1;
