-- privileges.sql: runs last.  PUBLIC gets no right on anything in the
-- schema; each module grants its group roles what they need in its own SQL
-- file (the README lists who may call what).

REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
