/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every snapshot and
 * change-log record. Uses the SSE4.2 instruction when the CPU has it, a
 * slice-by-8 table otherwise; both give the same values.
 */
#ifndef SERVICE_CRC32C_H
#define SERVICE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over len bytes; start with crc = 0. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
