-- keys: the master key service.  The test cluster has a key file (mode 0600);
\set SHOW_CONTEXT never
-- a missing, unreadable or malformed key is tested in test/t/002_master_key.pl.
SELECT configured, source, length(fingerprint) AS fingerprint_len, usable
  FROM tracechain.master_key_status();
-- The fingerprint is stable within a configuration.
SELECT (SELECT fingerprint FROM tracechain.master_key_status())
     = (SELECT fingerprint FROM tracechain.master_key_status()) AS stable;
-- The key settings are superuser-only and cannot be changed in a session.
SET tracechain.master_key_file = '/tmp/other';
SELECT set_config('tracechain.master_key_command', 'echo 00', false);
CREATE ROLE tc_keys_probe;
SET ROLE tc_keys_probe;
SHOW tracechain.master_key_file;
RESET ROLE;
DROP ROLE tc_keys_probe;
