/*
 * tl_etcd.h - an etcd cluster for the failover tests (CONTRACT §9): 1 or
 * 3 members of Debian's etcd 3.4 on loopback, each with a scratch data
 * dir and free client and peer ports, started together and waited for
 * until every member answers /health; members stopped (any signal,
 * SIGSTOP too) and started again one by one.
 */
#ifndef TESTS_TL_ETCD_H
#define TESTS_TL_ETCD_H

#include <limits.h>

#include "tl_proc.h"

#define FS_ETCD_MAX 3

typedef struct fs_test_etcd {
	int n;
	char dir[PATH_MAX]; /* scratch dir of all members */
	int client_port[FS_ETCD_MAX], peer_port[FS_ETCD_MAX];
	fs_test_proc proc[FS_ETCD_MAX];
	/* "etcd://127.0.0.1:P1,127.0.0.1:P2,...": --coordinator's value */
	char spec[256];
} fs_test_etcd;

/* 1 when the etcd program is installed (tools/deps.sh installs it). */
int fs_etcd_available(void);

/* Starts n (1 or 3) members under dir (a directory the test owns) and
 * waits until each answers /health. Returns 0, or -1 after printing
 * why and the members' log tails. */
int fs_etcd_start(fs_test_etcd *e, const char *dir, int n);

/* Stops member i with sig (SIGTERM, SIGKILL); 0 or -1. */
int fs_etcd_stop_member(fs_test_etcd *e, int i, int sig);

/* Starts member i again (with its data dir) and waits for /health when
 * wait is set (a lone member of three cannot answer healthy). 0 or -1. */
int fs_etcd_start_member(fs_test_etcd *e, int i, int wait);

/* Stops every member (SIGTERM); prints the log tails when failed. */
void fs_etcd_stop(fs_test_etcd *e, int failed);

#endif
