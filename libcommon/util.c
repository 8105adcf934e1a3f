/*
 * util.c - allocation helpers that die instead of returning NULL.
 */
#include <stdlib.h>
#include <string.h>

#include "fs.h"

void *fs_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		fs_die(FS_EXIT_FAIL, "out of memory (allocating %zu bytes)", n);
	return p;
}

void *fs_xcalloc(size_t n, size_t size)
{
	void *p;

	if (!n || !size)
		n = size = 1;
	p = calloc(n, size);
	if (!p)
		fs_die(FS_EXIT_FAIL,
		       "out of memory (allocating %zu x %zu bytes)", n, size);
	return p;
}

void *fs_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		fs_die(FS_EXIT_FAIL, "out of memory (allocating %zu bytes)", n);
	return q;
}

char *fs_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = fs_xmalloc(n);

	memcpy(p, s, n);
	return p;
}

int fs_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
