# Roles, permissions and the cached permission check behind the RLS policies.
OBJS        += src/rbac.o
SQL_MODULES += src/rbac.sql
REGRESS     += rbac
ISOLATION   += rbac_invalidation
