/*
 * flow-check: verifies a flow-service data directory offline, the way the
 * backend would load it (magic, versions, every checksum, every record
 * applied in order, the revisions following on), without changing
 * anything. Exit 0 when it would load, 1 when it would not (the message
 * names the file and the offset), 2 on usage errors.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "persist.h"
#include "svc.h"

int
main(int argc, char **argv)
{
	persist_check ck;
	persist_error err;

	if (argc != 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fprintf(argc == 2 ? stdout : stderr,
		    "usage: flow-check DATA_DIR\n\n"
		    "Verifies a flow-service data directory without changing "
		    "it: prints the\ngeneration, the record counts, the "
		    "revisions and the components it\nholds, or the file and "
		    "offset where it is broken.\n");
		return argc == 2 ? 0 : 2;
	}
	memset(&err, 0, sizeof(err));
	if (persist_check_dir(argv[1], svc_apply, &ck, &err) != FS_OK) {
		fprintf(stderr, "flow-check: BROKEN: %s at offset %" PRIu64
		    ": %s\n", err.path, err.offset, err.what);
		return 1;
	}
	printf("ok: %s\n", argv[1]);
	printf("generation:        %" PRIu64 "\n", ck.generation);
	printf("snapshot records:  %" PRIu64 "\n", ck.snapshot_records);
	printf("log records:       %" PRIu64 "\n", ck.log_records);
	printf("snapshot revision: %" PRIu64 "\n", ck.snapshot_revision);
	printf("revision:          %" PRIu64 "\n", ck.revision);
	printf("torn tail bytes:   %" PRIu64 "%s\n", ck.torn_bytes,
	    ck.torn_bytes ? " (dropped at the next start)" : "");
	printf("flows:             %" PRIu64 "\n", ck.flows);
	printf("apps:              %" PRIu64 "\n", ck.apps);
	return 0;
}
