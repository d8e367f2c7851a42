/*
 * logfmt.c - the data directory's file format. See logfmt.h.
 */
#include "logfmt.h"

#include <string.h>

#include "crc32c.h"
#include "fs_errors.h"

#define LOG_MAGIC "FLOWLOG\0"
#define SNAP_MAGIC "FLOWSNP\0"

static int
version_known(uint32_t v)
{
	return v == 1 || v == 2;
}

/* ---- file headers -------------------------------------------------------- */

void
logfmt_log_header(uint8_t out[LOGFMT_LOG_HEADER])
{
	memset(out, 0, LOGFMT_LOG_HEADER);
	memcpy(out, LOG_MAGIC, 8);
	logfmt_put_u32(out + 8, LOGFMT_VERSION);
}

enum logfmt_header
logfmt_log_header_check(const uint8_t *b, size_t n, uint32_t *version)
{
	if (n == 0)
		return LOGFMT_HEADER_SHORT;
	if (memcmp(b, LOG_MAGIC, n < 8 ? n : 8) != 0)
		return LOGFMT_HEADER_BAD_MAGIC;
	if (n >= 12)
		*version = logfmt_get_u32(b + 8);
	if (n < LOGFMT_LOG_HEADER)
		return LOGFMT_HEADER_SHORT;
	return version_known(*version) ? LOGFMT_HEADER_OK
	                               : LOGFMT_HEADER_BAD_VERSION;
}

size_t
logfmt_snap_header_put(uint8_t out[LOGFMT_SNAP_HEADER_V2], uint64_t count,
    uint64_t revision)
{
	memset(out, 0, LOGFMT_SNAP_HEADER_V2);
	memcpy(out, SNAP_MAGIC, 8);
	logfmt_put_u32(out + 8, LOGFMT_VERSION);
	logfmt_put_u64(out + 16, count);
	logfmt_put_u64(out + 24, revision);
	return LOGFMT_SNAP_HEADER_V2;
}

enum logfmt_header
logfmt_snap_header_check(const uint8_t *b, size_t n, logfmt_snap_header *h)
{
	memset(h, 0, sizeof(*h));
	if (n == 0)
		return LOGFMT_HEADER_SHORT;
	if (n < 8)
		return memcmp(b, SNAP_MAGIC, n) == 0 ? LOGFMT_HEADER_SHORT
		                                     : LOGFMT_HEADER_BAD_MAGIC;
	if (memcmp(b, SNAP_MAGIC, 8) != 0)
		return LOGFMT_HEADER_BAD_MAGIC;
	if (n < 12)
		return LOGFMT_HEADER_SHORT;
	h->version = logfmt_get_u32(b + 8);
	if (!version_known(h->version))
		return LOGFMT_HEADER_BAD_VERSION;
	h->size =
	    h->version == 1 ? LOGFMT_SNAP_HEADER_V1 : LOGFMT_SNAP_HEADER_V2;
	if (n < h->size)
		return LOGFMT_HEADER_SHORT;
	h->count = logfmt_get_u64(b + 16);
	if (h->version >= 2)
		h->revision = logfmt_get_u64(b + 24);
	return LOGFMT_HEADER_OK;
}

/* ---- log records --------------------------------------------------------- */

const char *
logfmt_frame_what(enum logfmt_frame f, int header_only)
{
	switch (f) {
	case LOGFMT_FRAME_OK:
		return "a good record";
	case LOGFMT_FRAME_SHORT:
		return header_only ? "a record header cut short"
		                   : "a record cut short";
	case LOGFMT_FRAME_BAD_HEADER:
		return "a record header that fails its checksum";
	case LOGFMT_FRAME_BAD_LENGTH:
		return "a record length out of range";
	case LOGFMT_FRAME_BAD_PAYLOAD:
		return "a complete record that fails its checksum";
	}
	return "a bad record";
}

enum logfmt_frame
logfmt_frame_head(const uint8_t *b, size_t n, uint32_t *len)
{
	uint32_t rl;

	if (n < LOGFMT_REC_HEADER)
		return LOGFMT_FRAME_SHORT;
	if (crc32c(0, b, 4) != logfmt_get_u32(b + 4))
		return LOGFMT_FRAME_BAD_HEADER;
	if ((rl = logfmt_get_u32(b)) > LOGFMT_REC_MAX)
		return LOGFMT_FRAME_BAD_LENGTH;
	*len = rl;
	return LOGFMT_FRAME_OK;
}

enum logfmt_frame
logfmt_frame_check(const uint8_t *b, size_t n, uint32_t *len)
{
	enum logfmt_frame f = logfmt_frame_head(b, n, len);

	if (f != LOGFMT_FRAME_OK)
		return f;
	if (*len > n - LOGFMT_REC_HEADER)
		return LOGFMT_FRAME_SHORT;
	if (crc32c(0, b + LOGFMT_REC_HEADER, *len) != logfmt_get_u32(b + 8))
		return LOGFMT_FRAME_BAD_PAYLOAD;
	return LOGFMT_FRAME_OK;
}

/* rec without its own revision: the one written is the argument. */
static Flowsvc__LogRecord
without_revision(const Flowsvc__LogRecord *rec)
{
	Flowsvc__LogRecord r = *rec;

	r.has_revision = 0;
	r.revision = 0;
	return r;
}

size_t
logfmt_record_size(const Flowsvc__LogRecord *rec, uint64_t revision)
{
	Flowsvc__LogRecord r = without_revision(rec);

	return LOGFMT_REC_HEADER +
	    fs_pb_varint_len(fs_pb_key(LOGFMT_REVISION_FIELD, FS_PB_VARINT)) +
	    fs_pb_varint_len(revision) +
	    flowsvc__log_record__get_packed_size(&r);
}

size_t
logfmt_record_encode(const Flowsvc__LogRecord *rec, uint64_t revision,
    uint8_t *out)
{
	Flowsvc__LogRecord r = without_revision(rec);
	uint8_t *p = out + LOGFMT_REC_HEADER;
	size_t len;

	/* The revision first: a reader finds it without walking the op. */
	len = fs_pb_put_varint_field(p, LOGFMT_REVISION_FIELD, revision);
	len += flowsvc__log_record__pack(&r, p + len);
	logfmt_put_u32(out, (uint32_t) len);
	logfmt_put_u32(out + 4, crc32c(0, out, 4));
	logfmt_put_u32(out + 8, crc32c(0, p, len));
	return LOGFMT_REC_HEADER + len;
}

int
logfmt_record_revision(const uint8_t *payload, size_t len, uint64_t *revision)
{
	const uint8_t *p = payload, *e = payload + len;
	fs_pb_field f;
	int found = 0;

	while (p < e) {
		if (fs_pb_next_field(&p, e, &f) != 0)
			return FS_DATA_LOSS;
		if (f.num != LOGFMT_REVISION_FIELD)
			continue;
		if (f.wt != FS_PB_VARINT)
			return FS_DATA_LOSS;
		*revision = f.v; /* the last one counts, as in protobuf */
		found = 1;
	}
	return found ? FS_OK : FS_NOT_FOUND;
}

int
logfmt_record_decode(const uint8_t *payload, size_t len, uint32_t version,
    uint64_t prev, Flowsvc__LogRecord **out)
{
	Flowsvc__LogRecord *rec =
	    flowsvc__log_record__unpack(NULL, len, payload);

	if (rec == NULL)
		return FS_DATA_LOSS;
	if (!rec->has_revision) {
		if (version >= 2) {
			flowsvc__log_record__free_unpacked(rec, NULL);
			return FS_DATA_LOSS;
		}
		rec->has_revision = 1;
		rec->revision = prev + 1;
	}
	*out = rec;
	return FS_OK;
}

/* ---- snapshot records ---------------------------------------------------- */

void
logfmt_snap_record(size_t comp_len, uint64_t status, uint64_t seq,
    uint8_t pre[LOGFMT_SNAP_PRE_MAX], size_t *pre_len,
    uint8_t suf[LOGFMT_SNAP_SUF_MAX], size_t *suf_len)
{
	size_t pl = 4, sl = 0;

	pl += fs_pb_put_len_header(pre + pl, 1, comp_len);
	sl += fs_pb_put_varint_field(suf + sl, 2, status);
	sl += fs_pb_put_varint_field(suf + sl, 3, seq);
	logfmt_put_u32(pre, (uint32_t) (pl - 4 + comp_len + sl));
	*pre_len = pl;
	*suf_len = sl;
}

int
logfmt_snap_record_scan(const uint8_t *rec, size_t len, logfmt_snap_rec *r)
{
	const uint8_t *p = rec, *e = rec + len;
	fs_pb_field f;
	int have_comp = 0, have_status = 0, have_seq = 0;

	while (p < e) {
		if (fs_pb_next_field(&p, e, &f) != 0)
			return FS_DATA_LOSS;
		if (f.num == 1 && f.wt == FS_PB_LEN) {
			r->comp_off = (size_t) (f.data - rec);
			r->comp_len = (size_t) f.v;
			have_comp = 1;
		} else if (f.num == 2 && f.wt == FS_PB_VARINT) {
			r->status = f.v;
			have_status = 1;
		} else if (f.num == 3 && f.wt == FS_PB_VARINT) {
			r->seq = f.v;
			have_seq = 1;
		} else {
			return FS_DATA_LOSS;
		}
	}
	return have_comp && have_status && have_seq ? FS_OK : FS_DATA_LOSS;
}
