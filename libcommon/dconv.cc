/*
 * dconv.cc - libdouble-conversion behind the C API of dconv.h.  The
 * library's shortest mode (Grisu3 with an exact bignum fallback) gives
 * the digits; the layout of the text is left to the caller (fmtfloat.c).
 */
#include <double-conversion/double-to-string.h>

#include "dconv.h"

using double_conversion::DoubleToStringConverter;

int fs_dtoa_shortest(double v, int single, char *digits, int *point)
{
	bool sign;
	int n;

	DoubleToStringConverter::DoubleToAscii(v,
	    single ? DoubleToStringConverter::SHORTEST_SINGLE :
		     DoubleToStringConverter::SHORTEST,
	    0, digits, FS_DTOA_MAX, &sign, &n, point);
	return n;
}
