/*
 * incident.h: the incident module (incident.c, incident.sql).
 *
 * tc_incident_init() defines the module's settings and registers its worker
 * jobs: escalation of overdue incidents, the watch over the audit tail
 * (failed sign-ins, block storms, chain verification) and maintenance.
 */
#ifndef TC_INCIDENT_H
#define TC_INCIDENT_H

extern void tc_incident_init(void);

#endif
