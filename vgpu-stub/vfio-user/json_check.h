/*
 * json_check.h - is a client's VERSION capability text well-formed JSON?
 *
 * The server needs nothing from the client's capabilities (it sends no file
 * descriptors and does no DMA), but a VERSION whose data is not a JSON
 * object is refused rather than half-understood.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef JSON_CHECK_H
#define JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* true if text[0..len) is exactly one JSON object (surrounding blanks allowed). */
bool json_is_object(const char *text, size_t len);

#endif /* JSON_CHECK_H */
