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

#include "fs_opts.h"
#include "persist.h"
#include "svc.h"

/* No options of its own: --help and --version (fs_opts). */
static const fs_opts_prog prog = {
    .name = "flow-check",
    .summary = "verify a flow-service data directory offline",
    .usage = "DATA_DIR",
    .notes = "Verifies a flow-service data directory without changing it: "
             "prints the\ngeneration, the record counts, the revisions "
             "and the components it\nholds, or the file and offset where "
             "it is broken. Exit status: 0 it\nwould load, 1 it would not, "
             "2 usage error.\n",
    .max_args = 1,
};

int
main(int argc, char **argv)
{
	persist_check ck;
	persist_error err;
	fs_opts_result res;
	int rv;

	if ((rv = fs_opts_parse(&prog, NULL, argc, argv, &res)) != FS_OPTS_OK)
		return rv == FS_OPTS_EXIT ? 0 : 2;
	if (res.nargs != 1)
		return fs_opts_usage_error(&prog, "which DATA_DIR?");
	memset(&err, 0, sizeof(err));
	if (persist_check_dir(res.args[0], svc_apply, &ck, &err) != FS_OK) {
		fprintf(stderr,
		    "flow-check: BROKEN: %s at offset %" PRIu64 ": %s\n",
		    err.path, err.offset, err.what);
		return 1;
	}
	printf("ok: %s\n", res.args[0]);
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
