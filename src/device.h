/*
 * device.h: IoT device security (device.c, device.sql, docs/device.md).
 */
#ifndef TC_DEVICE_H
#define TC_DEVICE_H

/* Settings and the shared-memory challenge table. */
extern void tc_device_init(void);

#endif
