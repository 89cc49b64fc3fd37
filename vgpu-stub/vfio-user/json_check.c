/*
 * json_check.c - a strict RFC 8259 syntax check, bounded in depth so a
 * hostile client cannot exhaust the stack.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "json_check.h"

#include <string.h>

#define JSON_MAX_DEPTH 16

typedef struct Cursor {
    const char *p;
    const char *end;
} Cursor;

static bool value(Cursor *c, int depth);

static void blanks(Cursor *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static bool literal(Cursor *c, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) {
        return false;
    }
    c->p += n;
    return true;
}

static bool is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
           (ch >= 'A' && ch <= 'F');
}

static bool string(Cursor *c)
{
    if (c->p >= c->end || *c->p != '"') {
        return false;
    }
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;

        if (ch == '"') {
            return true;
        }
        if (ch < 0x20) {
            return false;
        }
        if (ch == '\\') {
            if (c->p >= c->end) {
                return false;
            }
            ch = (unsigned char)*c->p++;
            if (ch == 'u') {
                for (int i = 0; i < 4; i++) {
                    if (c->p >= c->end || !is_hex(*c->p)) {
                        return false;
                    }
                    c->p++;
                }
            } else if (!strchr("\"\\/bfnrt", ch) || ch == '\0') {
                return false;
            }
        }
    }
    return false;
}

static bool digits(Cursor *c)
{
    const char *start = c->p;

    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        c->p++;
    }
    return c->p > start;
}

static bool number(Cursor *c)
{
    if (c->p < c->end && *c->p == '-') {
        c->p++;
    }
    if (c->p < c->end && *c->p == '0') {
        c->p++;
    } else if (!digits(c)) {
        return false;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!digits(c)) {
            return false;
        }
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }
        if (!digits(c)) {
            return false;
        }
    }
    return true;
}

/* A '{...}' or '[...]': members separated by commas. */
static bool container(Cursor *c, int depth, char close, bool keyed)
{
    if (depth >= JSON_MAX_DEPTH) {
        return false;
    }
    c->p++;   /* the opening bracket */
    blanks(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return true;
    }
    for (;;) {
        blanks(c);
        if (keyed) {
            if (!string(c)) {
                return false;
            }
            blanks(c);
            if (c->p >= c->end || *c->p != ':') {
                return false;
            }
            c->p++;
        }
        if (!value(c, depth + 1)) {
            return false;
        }
        blanks(c);
        if (c->p >= c->end) {
            return false;
        }
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == close) {
            c->p++;
            return true;
        }
        return false;
    }
}

static bool value(Cursor *c, int depth)
{
    blanks(c);
    if (c->p >= c->end) {
        return false;
    }
    switch (*c->p) {
    case '{':
        return container(c, depth, '}', true);
    case '[':
        return container(c, depth, ']', false);
    case '"':
        return string(c);
    case 't':
        return literal(c, "true");
    case 'f':
        return literal(c, "false");
    case 'n':
        return literal(c, "null");
    default:
        return number(c);
    }
}

bool json_is_object(const char *text, size_t len)
{
    Cursor c = { text, text + len };

    blanks(&c);
    if (c.p >= c.end || *c.p != '{' || !value(&c, 0)) {
        return false;
    }
    blanks(&c);
    return c.p == c.end;
}
