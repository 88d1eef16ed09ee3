# Incidents: the state machine, automated responses, and the worker jobs that
# escalate overdue incidents, watch the audit log and purge what has ended.
OBJS        += src/incident.o
SQL_MODULES += src/incident.sql
REGRESS     += incident
