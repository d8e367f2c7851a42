/*
 * fs_pbwire.h - the protobuf wire format by hand, where protobuf-c's
 * generated code would cost an allocation or a copy: varints, keys and
 * length-delimited fields, read and written in place.
 *
 * Used where bytes are framed or scanned without decoding the whole
 * message (snapshot records, a component's indexed fields, batch
 * envelopes, a reply around a component's stored bytes). Everything here
 * is a pure function over a buffer; readers never read past the end they
 * are given and refuse what protobuf would refuse (a varint over ten
 * bytes or 64 bits, a length past the end, field number 0).
 */
#ifndef PROTO_FS_PBWIRE_H
#define PROTO_FS_PBWIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum fs_pb_wiretype {
	FS_PB_VARINT = 0,
	FS_PB_I64 = 1,
	FS_PB_LEN = 2,
	FS_PB_I32 = 5,
};

/* The most bytes a varint takes. */
#define FS_PB_VARINT_MAX 10

/* Bytes v takes as a varint (1..10). */
static inline size_t
fs_pb_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Writes v at out (room for FS_PB_VARINT_MAX bytes); returns its length. */
static inline size_t
fs_pb_put_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t) v;
	return n;
}

/* Reads a varint at *p (not past e) into *v and advances *p. Returns 0,
 * or -1 (truncated, over ten bytes, or over 64 bits; *p then undefined). */
static inline int
fs_pb_get_varint(const uint8_t **p, const uint8_t *e, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned sh = 0; *p < e && sh < 64; sh += 7) {
		uint8_t b = *(*p)++;

		if (sh == 63 && b > 1)
			return -1;
		r |= (uint64_t) (b & 0x7f) << sh;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/* The key of field num with wire type wt. */
static inline uint64_t
fs_pb_key(uint32_t num, enum fs_pb_wiretype wt)
{
	return (uint64_t) num << 3 | (uint64_t) wt;
}

/* Bytes of a whole length-delimited field num holding len bytes. */
static inline size_t
fs_pb_len_field_size(uint32_t num, size_t len)
{
	return fs_pb_varint_len(fs_pb_key(num, FS_PB_LEN)) +
	    fs_pb_varint_len(len) + len;
}

/* Writes the key and length of a length-delimited field (its bytes are
 * the caller's to write after); returns the bytes written (at most
 * 2 * FS_PB_VARINT_MAX). */
static inline size_t
fs_pb_put_len_header(uint8_t *out, uint32_t num, size_t len)
{
	size_t n = fs_pb_put_varint(out, fs_pb_key(num, FS_PB_LEN));

	return n + fs_pb_put_varint(out + n, len);
}

/* Writes a whole length-delimited field; returns the bytes written
 * (fs_pb_len_field_size). */
static inline size_t
fs_pb_put_len_field(uint8_t *out, uint32_t num, const void *bytes, size_t len)
{
	size_t n = fs_pb_put_len_header(out, num, len);

	if (len > 0)
		memcpy(out + n, bytes, len);
	return n + len;
}

/* Writes a varint field; returns the bytes written. */
static inline size_t
fs_pb_put_varint_field(uint8_t *out, uint32_t num, uint64_t v)
{
	size_t n = fs_pb_put_varint(out, fs_pb_key(num, FS_PB_VARINT));

	return n + fs_pb_put_varint(out + n, v);
}

/* One field read by fs_pb_next_field. */
typedef struct fs_pb_field {
	uint32_t num;
	enum fs_pb_wiretype wt;
	uint64_t v; /* FS_PB_VARINT: the value; FS_PB_LEN: the length */
	const uint8_t *data; /* FS_PB_LEN: the bytes; else NULL */
} fs_pb_field;

/* Reads the field at *p (not past e) and advances *p past it. Returns 0,
 * or -1 on anything protobuf would refuse (also groups, wire types 3 and
 * 4, which flows.proto never uses). */
static inline int
fs_pb_next_field(const uint8_t **p, const uint8_t *e, fs_pb_field *f)
{
	uint64_t key;

	if (fs_pb_get_varint(p, e, &key) != 0 || (key >> 3) == 0 ||
	    (key >> 3) > 0x1fffffff)
		return -1;
	f->num = (uint32_t) (key >> 3);
	f->wt = (enum fs_pb_wiretype)(key & 7);
	f->data = NULL;
	switch (f->wt) {
	case FS_PB_VARINT:
		return fs_pb_get_varint(p, e, &f->v);
	case FS_PB_I64:
	case FS_PB_I32: {
		size_t n = f->wt == FS_PB_I64 ? 8 : 4;

		if ((size_t) (e - *p) < n)
			return -1;
		f->v = 0;
		for (size_t i = 0; i < n; i++)
			f->v |= (uint64_t) (*p)[i] << (8 * i);
		*p += n;
		return 0;
	}
	case FS_PB_LEN:
		if (fs_pb_get_varint(p, e, &f->v) != 0 ||
		    f->v > (uint64_t) (e - *p))
			return -1;
		f->data = *p;
		*p += f->v;
		return 0;
	default:
		return -1;
	}
}

#endif
