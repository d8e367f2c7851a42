/*
 * fs_srv_tlswatch.h - keeps a tls+tcp:// listener accepting.
 *
 * nng 1.5.2's TLS transport hands a connection's failure during its TLS
 * handshake or protocol header exchange to the listener's pending accept;
 * when that failure reads "closed" (a write to a peer that has reset the
 * connection: EPIPE), the socket's listener takes it for its own closing
 * and never takes a connection again, while the transport goes on
 * completing handshakes nobody collects. Any peer can do that, without a
 * certificate: a ClientHello and a reset, some hundreds of times. The
 * watch connects to its own listener every period, with the server's own
 * certificate; when the connection completes but the server never sees
 * it arrive (its pipe callback, counted by the caller in *arrivals), twice
 * in a row, the listener has stopped: the watch closes it and listens
 * again on the same address with the same settings. Closing it closes the
 * connections it had accepted; their clients connect again.
 */
#ifndef PROTO_FS_SRV_TLSWATCH_H
#define PROTO_FS_SRV_TLSWATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "fs_tls.h"

typedef struct fs_tls_watch fs_tls_watch;

/* Watches listener l of sock, started on url with cfg (the watch holds
 * its own reference), probing every period_ms (0: 2000) as a client with
 * pem's certificate and key; *arrivals is the server's count of new
 * connections (NNG_PIPE_EV_ADD_PRE), which must outlive the watch. The
 * watch owns l from now on. Returns 0, or an nng error (l is left as it
 * was). */
int fs_tls_watch_start(fs_tls_watch **out, nng_socket sock, nng_listener l,
    const char *url, nng_tls_config *cfg, const fs_tls_pem *pem,
    atomic_uint_fast64_t *arrivals, uint32_t period_ms);

/* Stops the watch (its listener stays open: closing the socket closes
 * it). NULL is a no-op. */
void fs_tls_watch_stop(fs_tls_watch *w);

/* True while a watch of this process has a probe connecting from the
 * loopback: the server neither counts nor logs refusing it. */
bool fs_tls_watch_probing(void);

/* How many times watches of this process listened again. */
uint64_t fs_tls_watch_restarts(void);

#endif
