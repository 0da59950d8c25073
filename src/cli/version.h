/* version.h - the version we report; the 0.11 line we follow. */
#ifndef TR_CLI_VERSION_H
#define TR_CLI_VERSION_H
#define TR_VERSION "0.11.12-c.1"
#endif
