/*
 * compwire.h - what the store indexes of a packed Component, read straight
 * from its protobuf wire form.
 *
 * Loading a snapshot of a million components through protobuf-c costs a
 * dozen allocations and frees per record for fields the store never looks
 * at (it keeps the packed form as it is). compwire reads the whole record,
 * checks its structure and required fields as protobuf-c would, and fills
 * in only id, kind, name, group and flows, with no allocation once its
 * buffers have grown to the largest record.
 *
 * Not thread-safe per object; one compwire per loader.
 */
#ifndef SERVICE_COMPWIRE_H
#define SERVICE_COMPWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_errors.h"

typedef struct compwire {
	/* After a successful decode: id, kind, name, group, n_flows and
	 * flows are set (NUL-terminated copies owned by this object, valid
	 * until the next decode or compwire_fini); every other field is
	 * left at its default. */
	Flowsvc__Component msg;
	char *buf;
	size_t buf_cap;
	char **flows;
	size_t flows_cap;
} compwire;

#define COMPWIRE_INIT                                                         \
	{                                                                     \
		FLOWSVC__COMPONENT__INIT, NULL, 0, NULL, 0                    \
	}

/* Decodes the packed Component in wire[0..len). Returns FS_OK;
 * FS_DATA_LOSS when it is malformed (a bad varint or length, a wire type
 * that does not match its field, a missing required field, a string
 * holding a NUL byte); FS_RESOURCE_EXHAUSTED when out of memory (the
 * codes of fs_errors.h). Unknown fields are skipped, as protobuf-c does. */
int compwire_decode(compwire *w, const uint8_t *wire, size_t len);

void compwire_fini(compwire *w);

#endif
