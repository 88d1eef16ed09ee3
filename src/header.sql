-- tracechain 1.0: generated from src/*.sql by the Makefile; edit those files.
\echo Use "CREATE EXTENSION tracechain" to load this file. \quit
