# The supply-chain registry: stakeholders, products, checkpoints, pause, RLS.
OBJS        += src/registry.o
SQL_MODULES += src/registry.sql
REGRESS     += registry registry_matrix
ISOLATION   += registry_limit
