# Runs last: PUBLIC loses every right; the privilege tests see all modules.
SQL_MODULES += src/privileges.sql
REGRESS     += privileges
