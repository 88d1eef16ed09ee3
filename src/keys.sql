-- keys.sql: the master key service (keys.c).

CREATE FUNCTION master_key_status(OUT configured boolean, OUT source text,
                                  OUT fingerprint text, OUT usable boolean)
RETURNS record
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'tc_master_key_status';
COMMENT ON FUNCTION master_key_status() IS
'Whether a master key is configured (file or command), a fingerprint that identifies it without revealing it, and whether sealing works; a load error is shown as a WARNING';

GRANT EXECUTE ON FUNCTION master_key_status() TO tracechain_admin;
