# IoT devices: challenge-response with sealed secrets (challenges in shared
# memory), device tokens (internal HS256 until the jwt module lands),
# AES-256-GCM telemetry, firmware signatures (ECDSA P-256, Ed25519).
OBJS        += src/device.o
SQL_MODULES += src/device.sql
REGRESS     += device
