# Rate-limit blocks survive a restart: automatic ones (written to ip_blocks
# by the worker) and block_ip ones (written in the caller's transaction),
# networks included; counters in shared memory do not (by design); expired
# blocks are not brought back.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TraceChainNode;

my $node = tc_node('ratelimit');
ok(wait_for_worker($node), 'worker running');

# 61 calls in a minute: the last one refused and the address blocked.
is($node->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE tracechain.rate_limit_check('198.51.100.61', 'tap:login')) FROM generate_series(1, 61)}),
	'60', '60 of 61 calls admitted');
is($node->safe_psql('postgres', q{SELECT tracechain.is_blocked('198.51.100.61')}), 't', 'address blocked');
# A rolled-back caller does not undo the block.
$node->safe_psql('postgres', q{BEGIN; SELECT tracechain.rate_limit_check('2001:db8:77::1', 'tap:v6') FROM generate_series(1, 61); ROLLBACK;});
is($node->safe_psql('postgres', q{SELECT tracechain.is_blocked('2001:db8:77::2')}), 't', 'IPv6 /64 blocked despite the rollback');
$node->safe_psql('postgres', q{SELECT tracechain.block_ip('203.0.113.0/24', '1 hour', 'tap: a network')});
$node->safe_psql('postgres', q{SELECT tracechain.block_ip('203.0.114.1', '1 second', 'tap: short')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM tracechain.ip_blocks WHERE network IN ('198.51.100.61/32', '2001:db8:77::/64')}),
	'the worker wrote the automatic blocks into ip_blocks');

$node->restart;
ok(wait_for_worker($node), 'worker back after restart');
ok($node->poll_query_until('postgres', q{SELECT blocks_loaded FROM tracechain.rate_limit_stats()}),
	'ip_blocks loaded into shared memory');
is($node->safe_psql('postgres', q{SELECT tracechain.is_blocked('198.51.100.61')}), 't', 'automatic block survived the restart');
is($node->safe_psql('postgres', q{SELECT tracechain.rate_limit_check('198.51.100.61', 'tap:login')}), 'f', 'and still refuses');
is($node->safe_psql('postgres', q{SELECT tracechain.is_blocked('2001:db8:77::ffff')}), 't', 'IPv6 network block survived');
is($node->safe_psql('postgres', q{SELECT tracechain.is_blocked('203.0.113.99')}), 't', 'block_ip network survived');
$node->safe_psql('postgres', q{SELECT pg_sleep(1.5)});
is($node->safe_psql('postgres', q{SELECT tracechain.is_blocked('203.0.114.1')}), 'f', 'an expired block does not apply after the restart');
is($node->safe_psql('postgres', q{SELECT tracechain.rate_limit_check('198.51.100.62', 'tap:login')}), 't', 'other addresses unaffected');

# Immediate shutdown (a crash): a block_ip that committed is in the table.
$node->safe_psql('postgres', q{SELECT tracechain.block_ip('192.0.2.77', '1 hour', 'tap: before crash')});
$node->stop('immediate');
$node->start;
ok(wait_for_worker($node), 'worker back after the crash');
ok($node->poll_query_until('postgres', q{SELECT blocks_loaded FROM tracechain.rate_limit_stats()}), 'loaded again');
is($node->safe_psql('postgres', q{SELECT tracechain.is_blocked('192.0.2.77')}), 't', 'committed block_ip survived the crash');
is($node->safe_psql('postgres', q{SELECT tracechain.unblock_ip('198.51.100.61')}), 't', 'unblock_ip');
$node->restart;
ok($node->poll_query_until('postgres', q{SELECT blocks_loaded FROM tracechain.rate_limit_stats()}), 'loaded after unblock');
is($node->safe_psql('postgres', q{SELECT tracechain.is_blocked('198.51.100.61')}), 'f', 'an unblocked address stays unblocked after a restart');

$node->stop;
done_testing();
